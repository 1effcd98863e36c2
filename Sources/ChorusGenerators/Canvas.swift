/// A linear RGB colour with components in 0...1.
struct Color {
    var r: Double
    var g: Double
    var b: Double

    /// Hue in turns (any value; it wraps), saturation and value in 0...1. Arithmetic only, so it is exact and
    /// the same on every platform (no libm calls whose last bit may differ).
    static func hsv(_ hue: Double, _ saturation: Double, _ value: Double) -> Color {
        let h = (hue - hue.rounded(.down)) * 6
        let sector = Int(h.rounded(.down)) % 6
        let f = h - h.rounded(.down)
        let p = value * (1 - saturation)
        let q = value * (1 - saturation * f)
        let t = value * (1 - saturation * (1 - f))
        switch sector {
        case 0: return Color(r: value, g: t, b: p)
        case 1: return Color(r: q, g: value, b: p)
        case 2: return Color(r: p, g: value, b: t)
        case 3: return Color(r: p, g: q, b: value)
        case 4: return Color(r: t, g: p, b: value)
        default: return Color(r: value, g: p, b: q)
        }
    }

    /// Linear interpolation: `self` at 0, `other` at 1.
    func mix(_ other: Color, _ t: Double) -> Color {
        Color(r: r + (other.r - r) * t, g: g + (other.g - g) * t, b: b + (other.b - b) * t)
    }

    /// Each component multiplied by `k`.
    func scaled(_ k: Double) -> Color { Color(r: r * k, g: g * k, b: b * k) }
}

/// A floating-point RGB pixel buffer that scene layers are painted into, quantised to 8 bits at the end.
///
/// Painting in `Double` keeps soft glows and anti-aliased edges from banding before the final rounding.
struct Canvas {
    let width: Int
    let height: Int
    private var pixels: [Double]

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        pixels = [Double](repeating: 0, count: width * height * 3)
    }

    /// Sets a whole row to one colour (the sky gradient is constant along a row).
    mutating func fillRow(_ y: Int, _ c: Color) {
        pixels.withUnsafeMutableBufferPointer { p in
            var i = y * width * 3
            for _ in 0..<width {
                p[i] = c.r
                p[i + 1] = c.g
                p[i + 2] = c.b
                i += 3
            }
        }
    }

    /// Blends `c` over the pixel with opacity `alpha` (0...1).
    @inline(__always)
    mutating func blend(_ x: Int, _ y: Int, _ c: Color, _ alpha: Double) {
        guard x >= 0, x < width, y >= 0, y < height, alpha > 0 else { return }
        let i = (y * width + x) * 3
        let a = min(alpha, 1)
        pixels[i] += (c.r - pixels[i]) * a
        pixels[i + 1] += (c.g - pixels[i + 1]) * a
        pixels[i + 2] += (c.b - pixels[i + 2]) * a
    }

    /// Adds light (glows, stars): brightens without hiding what is below.
    @inline(__always)
    mutating func add(_ x: Int, _ y: Int, _ c: Color, _ amount: Double) {
        guard x >= 0, x < width, y >= 0, y < height, amount > 0 else { return }
        let i = (y * width + x) * 3
        pixels[i] += c.r * amount
        pixels[i + 1] += c.g * amount
        pixels[i + 2] += c.b * amount
    }

    /// The colour at a pixel.
    func color(_ x: Int, _ y: Int) -> Color {
        let i = (y * width + x) * 3
        return Color(r: pixels[i], g: pixels[i + 1], b: pixels[i + 2])
    }

    /// 8-bit RGB bytes, clamped and rounded to nearest.
    func rgbBytes() -> [UInt8] {
        pixels.map { v in UInt8(max(0, min(255, (v * 255).rounded()))) }
    }
}
