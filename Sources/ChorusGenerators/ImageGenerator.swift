import ChorusProtocol
/// Renders a landscape picture as PNG bytes, seeded by the SHA-256 of the prompt.
///
/// **This is a procedural picture, not a model that follows the prompt.** The prompt's digest only chooses the
/// time of day (dawn, day, dusk, night), the palette, the sun or moon, the stars and the shape of three to five
/// layers of mountains and hills. "A red bicycle" gives a landscape like any other prompt. It exists so the
/// image agent produces a real, valid, deterministic picture in milliseconds with no model and no packages:
/// the same prompt always gives byte-identical PNG bytes (only `+ − × ÷` and square roots are used, which IEEE
/// 754 rounds the same way everywhere).
///
/// A 512×512 picture renders and encodes in 15–40 ms in a release build on a busy 2-core machine
/// (docs/GENERATORS.md).
public struct ImageGenerator: Sendable {
    /// Picture width in pixels.
    public let width: Int
    /// Picture height in pixels.
    public let height: Int

    /// A generator for pictures of the given size.
    ///
    /// - Precondition: both sides are in 16...8192; smaller pictures cannot show the scene and larger ones are
    ///   almost certainly a configuration mistake.
    public init(width: Int = 512, height: Int = 512) {
        precondition((16...8192).contains(width) && (16...8192).contains(height), "image size out of range")
        self.width = width
        self.height = height
    }

    /// The picture for `prompt`, encoded as PNG.
    public func generate(prompt: String) -> [UInt8] {
        PNGEncoder.encode(width: width, height: height, pixels: render(prompt: prompt), format: .rgb)
    }

    /// The picture for `prompt` as raw 8-bit RGB, row by row from the top (`width * height * 3` bytes).
    public func render(prompt: String) -> [UInt8] {
        var random = SeededRandom(digest: SHA256.hash(Array(prompt.utf8)))
        let palette = Palette(random: &random)
        var canvas = Canvas(width: width, height: height)
        let w = Double(width)
        let h = Double(height)
        let horizon = h * random.value(in: 0.42...0.58)

        paintSky(&canvas, palette, horizon: horizon)
        if palette.mood == .night || palette.mood == .dusk {
            paintStars(&canvas, &random, count: palette.mood == .night ? 320 : 90, below: horizon)
        }
        let radius = w * random.value(in: 0.045...0.085)
        let centerX = w * random.value(in: 0.15...0.85)
        let centerY = random.value(in: (h * 0.1 + radius)...max(h * 0.1 + radius, horizon - radius * 0.3))
        if palette.mood == .night {
            paintMoon(&canvas, &random, palette, x: centerX, y: centerY, radius: radius)
        } else {
            paintSun(&canvas, palette, x: centerX, y: centerY, radius: radius)
        }
        paintLand(&canvas, &random, palette, horizon: horizon)
        return canvas.rgbBytes()
    }

    /// Top-to-horizon gradient, eased so most of the change happens near the horizon as in real skies.
    private func paintSky(_ canvas: inout Canvas, _ palette: Palette, horizon: Double) {
        for y in 0..<height {
            let t = min(1, Double(y) / horizon)
            canvas.fillRow(y, palette.skyTop.mix(palette.skyHorizon, t * t * (3 - 2 * t)))
        }
    }

    private func paintStars(_ canvas: inout Canvas, _ random: inout SeededRandom, count: Int, below horizon: Double) {
        let n = count * width * height / (512 * 512)
        for _ in 0..<n {
            let x = random.index(width)
            let y = Int(horizon * random.unit() * random.unit())  // more stars high in the sky, fewer near haze
            let brightness = random.value(in: 0.15...0.9)
            let tint = Color.hsv(random.value(in: 0.55...0.7), random.value(in: 0...0.25), 1)
            canvas.add(x, y, tint, brightness)
            if brightness > 0.75 {
                // The few bright stars get a one-pixel cross so they read at a glance.
                for (dx, dy) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
                    canvas.add(x + dx, y + dy, tint, brightness * 0.35)
                }
            }
        }
    }

    private func paintSun(_ canvas: inout Canvas, _ palette: Palette, x cx: Double, y cy: Double, radius: Double) {
        let reach = radius * 7
        forEachPixel(around: cx, cy, reach) { x, y, d in
            // Glow: a quadratic falloff that reaches exactly zero at `reach`, so there is no visible edge.
            let g = 1 - d / reach
            canvas.add(x, y, palette.glow, g * g * 0.55)
            canvas.blend(x, y, palette.celestial, radius + 0.5 - d)  // anti-aliased disc edge
        }
    }

    private func paintMoon(
        _ canvas: inout Canvas, _ random: inout SeededRandom, _ palette: Palette, x cx: Double, y cy: Double,
        radius: Double
    ) {
        // The phase: a disc offset to one side, inside which the moon only faintly shows (earthshine).
        let side: Double = random.unit() < 0.5 ? -1 : 1
        let shadowX = cx + side * radius * random.value(in: 0.35...1.1)
        let shadowY = cy - radius * random.value(in: 0...0.3)
        let reach = radius * 4
        forEachPixel(around: cx, cy, reach) { x, y, d in
            let g = 1 - d / reach
            canvas.add(x, y, palette.glow, g * g * 0.18)
            let dx = Double(x) + 0.5 - shadowX
            let dy = Double(y) + 0.5 - shadowY
            let lit = 1 - min(1, max(0, radius + 0.5 - (dx * dx + dy * dy).squareRoot())) * 0.85
            let shaded = canvas.color(x, y).mix(palette.celestial, lit)
            canvas.blend(x, y, shaded, radius + 0.5 - d)
        }
    }

    /// Calls `body` for every pixel whose centre lies within `reach` of (`cx`, `cy`), with that distance.
    private func forEachPixel(around cx: Double, _ cy: Double, _ reach: Double, _ body: (Int, Int, Double) -> Void) {
        let x0 = max(0, Int(cx - reach))
        let x1 = min(width - 1, Int(cx + reach) + 1)
        let y0 = max(0, Int(cy - reach))
        let y1 = min(height - 1, Int(cy + reach) + 1)
        guard x0 <= x1, y0 <= y1 else { return }
        for y in y0...y1 {
            for x in x0...x1 {
                let dx = Double(x) + 0.5 - cx
                let dy = Double(y) + 0.5 - cy
                let d = (dx * dx + dy * dy).squareRoot()
                if d < reach { body(x, y, d) }
            }
        }
    }

    /// Mountains at the back, rounded hills at the front; each layer is darker and more saturated than the one
    /// behind it, which is what makes distance read (aerial perspective).
    private func paintLand(_ canvas: inout Canvas, _ random: inout SeededRandom, _ palette: Palette, horizon: Double) {
        let h = Double(height)
        let w = Double(width)
        let layers = 3 + random.index(3)
        for k in 0..<layers {
            let depth = Double(k) / Double(layers - 1)  // 0 = farthest, 1 = nearest
            let color = palette.landFar.mix(palette.landNear, depth)
            let base = horizon + (h - horizon) * (0.05 + 0.55 * depth)
            let jagged = k < layers / 2 + (layers == 3 ? 1 : 0) && random.unit() < 0.8
            let amplitude =
                h * (jagged ? random.value(in: 0.12...0.24) * (1 - depth * 0.4) : random.value(in: 0.05...0.12))
            let layerTop = base - amplitude
            let features = jagged ? random.value(in: 5...9) : random.value(in: 2...4)
            let noise = ValueNoise(random: &random, features: features)
            for x in 0..<width {
                let u = Double(x) / w
                let n = jagged ? noise.ridged(u) : noise.smooth(u)
                let ridge = base - amplitude * n
                let top = max(0, Int(ridge.rounded(.down)))
                guard top < height else { continue }
                for y in top..<height {
                    // Slightly darker towards the foot of each layer, so overlapping ridges stay distinct. Measured
                    // from the layer's highest possible point, not this column's ridge, or columns would streak.
                    let shade = 1 - 0.25 * min(1, max(0, Double(y) - layerTop) / (h * 0.35))
                    canvas.blend(x, y, color.scaled(shade), Double(y) + 1 - ridge)
                }
            }
        }
    }
}

/// The colours of one picture, chosen from the prompt's digest.
private struct Palette {
    enum Mood: CaseIterable { case dawn, day, dusk, night }

    let mood: Mood
    let skyTop: Color
    let skyHorizon: Color
    /// The sun's or moon's disc.
    let celestial: Color
    let glow: Color
    let landFar: Color
    let landNear: Color

    init(random: inout SeededRandom) {
        mood = random.pick(Mood.allCases)
        // One picture in four gets its sky hues rotated, for the occasional green or violet alien sky.
        let shift = random.unit() < 0.25 ? random.unit() : 0
        let landHue = random.unit()
        switch mood {
        case .day:
            let hue = random.value(in: 0.54...0.62) + shift
            skyTop = .hsv(hue, random.value(in: 0.55...0.8), random.value(in: 0.75...0.95))
            skyHorizon = .hsv(hue + random.value(in: -0.03...0.03), random.value(in: 0.12...0.3), 0.97)
            celestial = .hsv(0.14, 0.08, 1)
            glow = .hsv(0.13, 0.3, 1)
            landNear = .hsv(landHue, random.value(in: 0.4...0.7), random.value(in: 0.25...0.45))
        case .dawn:
            skyTop = .hsv(
                random.value(in: 0.6...0.72) + shift, random.value(in: 0.35...0.6), random.value(in: 0.55...0.75))
            skyHorizon = .hsv(random.value(in: 0.02...0.12) + shift, random.value(in: 0.4...0.65), 1)
            celestial = .hsv(0.12, 0.2, 1)
            glow = .hsv(0.08, 0.5, 1)
            landNear = .hsv(landHue, random.value(in: 0.35...0.6), random.value(in: 0.18...0.32))
        case .dusk:
            skyTop = .hsv(
                random.value(in: 0.7...0.85) + shift, random.value(in: 0.5...0.7), random.value(in: 0.3...0.5))
            skyHorizon = .hsv(random.value(in: -0.04...0.08) + shift, random.value(in: 0.6...0.8), 0.95)
            celestial = .hsv(random.value(in: 0.04...0.1), 0.55, 1)
            glow = .hsv(0.05, 0.7, 1)
            landNear = .hsv(landHue, random.value(in: 0.4...0.7), random.value(in: 0.08...0.18))
        case .night:
            let hue = random.value(in: 0.6...0.7) + shift
            skyTop = .hsv(hue, random.value(in: 0.6...0.8), random.value(in: 0.04...0.1))
            skyHorizon = .hsv(hue - 0.02, random.value(in: 0.4...0.6), random.value(in: 0.2...0.32))
            celestial = .hsv(random.value(in: 0.1...0.16), 0.08, 0.95)
            glow = .hsv(0.6, 0.2, 0.9)
            landNear = .hsv(landHue, random.value(in: 0.3...0.6), random.value(in: 0.03...0.08))
        }
        // The farthest layer is mostly haze, so it is the horizon colour with a little of the land in it.
        landFar = skyHorizon.mix(landNear, 0.3)
    }
}

/// One-dimensional value noise: random heights at lattice points, smoothly interpolated, summed over octaves.
private struct ValueNoise {
    private let lattice: [Double]
    private let features: Double
    private static let octaves = 4

    /// `features` is the number of lattice cells across the picture at the coarsest octave.
    init(random: inout SeededRandom, features: Double) {
        self.features = features
        let count = Int(features * Double(1 << Self.octaves)) + 4
        lattice = (0..<count).map { _ in random.unit() }
    }

    /// Rolling hills in 0...1.
    func smooth(_ u: Double) -> Double {
        fractal(u) { $0 }
    }

    /// Sharp peaks in 0...1: folding the noise around its midpoint turns its smooth crossings into ridges.
    func ridged(_ u: Double) -> Double {
        fractal(u) { v in
            let r = 1 - abs(2 * v - 1)
            return r * r
        }
    }

    private func fractal(_ u: Double, _ shape: (Double) -> Double) -> Double {
        var sum = 0.0
        var weight = 1.0
        var total = 0.0
        var frequency = features
        for _ in 0..<Self.octaves {
            sum += shape(sample(u * frequency)) * weight
            total += weight
            weight *= 0.5
            frequency *= 2
        }
        return sum / total
    }

    private func sample(_ x: Double) -> Double {
        let i = Int(x.rounded(.down))
        let f = x - Double(i)
        let s = f * f * (3 - 2 * f)  // smoothstep: no kinks at lattice points
        return lattice[i] + (lattice[i + 1] - lattice[i]) * s
    }
}
