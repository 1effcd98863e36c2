import ChorusGenerators
import Testing

@Suite("espeak-ng speech synthesiser")
struct SpeechSynthesizerTests {
    @Test(.enabled(if: Tools.espeak, "espeak-ng is not installed (apt-get install espeak-ng)"))
    func synthesizesAValidWAV() throws {
        let wav = try SpeechSynthesizer().synthesize(text: "Hello from Chorus")
        let info = try WAVFile(parsing: wav)
        #expect(info.duration > 0.2, "only \(info.duration) s")
        #expect(info.channels == 1 && info.bitsPerSample == 16 && info.sampleRate == 22050)
    }

    @Test(.enabled(if: Tools.espeak, "espeak-ng is not installed (apt-get install espeak-ng)"))
    func speedChangesDuration() throws {
        let text = "The broker delivered every event exactly once."
        let slow = try WAVFile(parsing: try SpeechSynthesizer().synthesize(text: text, voice: "en-us", speed: 100))
        let fast = try WAVFile(parsing: try SpeechSynthesizer().synthesize(text: text, voice: "en-us", speed: 300))
        #expect(slow.duration > fast.duration * 1.5)
    }

    @Test(.enabled(if: Tools.espeak, "espeak-ng is not installed (apt-get install espeak-ng)"))
    func textStartingWithDashIsSpokenNotParsed() throws {
        let wav = try WAVFile(parsing: try SpeechSynthesizer().synthesize(text: "--help me"))
        #expect(wav.duration > 0.2)
    }

    @Test(.enabled(if: Tools.espeak, "espeak-ng is not installed (apt-get install espeak-ng)"))
    func unknownVoiceFails() {
        // Not "no-such-voice": espeak-ng reads that as Norwegian ("no") with a variant and speaks happily.
        do {
            _ = try SpeechSynthesizer().synthesize(text: "hi", voice: "zzqx")
            Issue.record("an unknown voice was accepted")
        } catch let error as GeneratorError {
            #expect(error.code == .commandFailed)
            #expect(error.message.contains("voice does not exist"), "\(error.message)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func missingExecutableSaysHowToInstall() {
        let synth = SpeechSynthesizer(executable: "/nonexistent/espeak-ng")
        #expect(!synth.isAvailable)
        #expect(throws: GeneratorError(.notInstalled, "espeak-ng not found: install it with apt-get install espeak-ng"))
        {
            try synth.synthesize(text: "hi")
        }
    }
}
