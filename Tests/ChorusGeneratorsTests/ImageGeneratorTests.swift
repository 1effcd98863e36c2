import ChorusGenerators
import Testing

@Suite("Procedural image generator")
struct ImageGeneratorTests {
    static let prompts = ["a red bicycle", "sunset over the sea", "", "🌙 night", "chorus", "mountains", "x", "dawn"]

    @Test func samePromptGivesIdenticalBytes() {
        let generator = ImageGenerator(width: 128, height: 96)
        for prompt in Self.prompts {
            #expect(generator.generate(prompt: prompt) == generator.generate(prompt: prompt))
        }
    }

    @Test func differentPromptsGiveDifferentPictures() {
        let generator = ImageGenerator(width: 96, height: 96)
        let pictures = Set(Self.prompts.map { generator.render(prompt: $0) })
        #expect(pictures.count == Self.prompts.count)
    }

    @Test func outputIsAValidPNGOfTheConfiguredSize() throws {
        let png = ImageGenerator(width: 200, height: 120).generate(prompt: "a lighthouse")
        let reader = try PNGReader(png)
        #expect(reader.width == 200 && reader.height == 120 && reader.colorType == 2)
        #expect(try reader.pixels() == ImageGenerator(width: 200, height: 120).render(prompt: "a lighthouse"))
    }

    @Test func defaultIs512SquareAndCompresses() throws {
        let png = ImageGenerator().generate(prompt: "hello")
        let reader = try PNGReader(png)
        #expect(reader.width == 512 && reader.height == 512)
        // 786 KB of raw pixels; the smooth scene should compress far below that.
        #expect(png.count < 300_000, "PNG is \(png.count) bytes")
    }

    @Test func picturesAreNotFlat() {
        // Every picture has a sky and land of different brightness, so top and bottom rows must differ,
        // and there should be many distinct colours.
        for prompt in Self.prompts {
            let pixels = ImageGenerator(width: 64, height: 64).render(prompt: prompt)
            #expect(pixels.prefix(64 * 3) != pixels.suffix(64 * 3), "flat picture for \(prompt)")
            var colours = Set<Int>()
            for i in stride(from: 0, to: pixels.count, by: 3) {
                let r = Int(pixels[i])
                let g = Int(pixels[i + 1])
                let b = Int(pixels[i + 2])
                colours.insert(r << 16 | g << 8 | b)
            }
            #expect(colours.count > 50, "only \(colours.count) colours for \(prompt)")
        }
    }
}
