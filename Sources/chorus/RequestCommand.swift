import ArgumentParser
import ChorusClient
import ChorusProtocol
import Foundation

struct RequestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request",
        abstract: "Publish a request and, with --wait, print its reply: the merged record of its join, or the single answer.",
        discussion: """
            The request gets a fresh correlation id unless --correlation gives one. With --wait [SECONDS] \
            (default 60) the command long-polls the broker (AWAIT @reply) and prints the merged record of the \
            join the request opened, or, for a topic without a join, the first event that answers it. With \
            --save DIR each part's artifact is written to DIR (text.txt, image.png, audio.wav, ...).

            Exit codes: 0 replied (or published, without --wait), 65 refused, 69 no broker, 70 no reply in time.
            """
    )

    @Argument(help: "Topic of the request, e.g. gen.request.")
    var topic: String

    @Option(name: .long, help: "The request as JSON, e.g. '{\"prompt\":\"a lighthouse at dusk\"}'.")
    var data: String

    @Option(name: .long, help: "Correlation id (default: a new one).")
    var correlation: String?

    @Flag(name: .long, help: "Wait for the reply and print it (optionally: --wait SECONDS).")
    var wait = false

    @Option(name: .customLong("wait-seconds"), help: .hidden)
    var waitSeconds: Double = 60

    @Option(name: .long, help: "With --wait: write each part's artifact into this folder.")
    var save: String?

    @OptionGroup var client: ClientOptions

    func validate() throws {
        guard (try? JSONSerialization.jsonObject(with: Data(data.utf8), options: [.fragmentsAllowed])) != nil else {
            throw ValidationError("--data must be JSON")
        }
    }

    func run() throws {
        Signals.unblockTermination()
        Output.ignoreBrokenPipe()
        let id = correlation ?? "req-" + UUID().uuidString.lowercased().prefix(13)
        try client.withConnection { c in
            let (seq, _) = try c.publish(
                topic: topic, payload: Array(data.utf8),
                properties: Properties([("correlation", String(id)), ("content-type", "application/json"), ("producer", "chorus-request")]),
                timeoutMilliseconds: client.timeoutMilliseconds)
            guard wait else {
                Output.line("{\"correlation\":\(JSONText.quote(String(id))),\"seq\":\(seq)}")
                return
            }
            guard let reply = try c.awaitEvent(
                correlation: String(id), pattern: ClientCommand.replyPattern, afterSeq: seq, timeoutMilliseconds: Int(waitSeconds * 1000))
            else {
                printError("chorus request: no reply to \(id) within \(waitSeconds) s (the request is kept; see 'chorus tail --correlation \(id)')")
                throw ExitCode(70)
            }
            // Parsed once for printing, saving and the note; a reply that is not JSON is printed as an event.
            let json = try? JSONSerialization.jsonObject(with: Data(reply.payload))
            Output.line(json.flatMap(Self.pretty) ?? JSONText.event(reply))
            let record = json as? [String: Any]
            if let save { try saveArtifacts(record, reply, c, into: save) }
            if let record, let note = Self.incompleteNote(record, correlation: reply.correlation) { printError(note) }
        }
    }

    /// A line for standard error when the reply is a merged record that did not complete: the JSON on standard
    /// output is the same either way, and "partial" deep in it is easy to miss.
    static func incompleteNote(_ record: [String: Any], correlation: String?) -> String? {
        guard record["join"] != nil, let status = record["status"] as? String, status != "complete" else { return nil }
        let missing = (record["missing"] as? [String]) ?? []
        var note = "chorus request: the join closed \(status)"
        if let reason = record["reason"] as? String { note += ": \(reason)" }
        if !missing.isEmpty && !(record["reason"] as? String ?? "").contains("missing") { note += "; missing: \(missing.joined(separator: ", "))" }
        return note + " (chorus inspect \(correlation ?? "ID") tells why)"
    }

    static func pretty(_ object: Any) -> String? {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// Writes each part's artifact: from the blob store when the part references a blob, else from its event.
    func saveArtifacts(_ record: [String: Any]?, _ reply: Event, _ c: BrokerConnection, into folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        guard let parts = record?["parts"] as? [[String: Any]] else { return }
        for part in parts where part["status"] as? String == "ok" {
            let name = part["name"] as? String ?? "part"
            var bytes: [UInt8]?
            var type = part["content_type"] as? String ?? "application/octet-stream"
            if let blob = part["blob"] as? [String: Any], let hash = blob["sha256"] as? String {
                let got = try c.getBlob(hash)
                bytes = got.content
                type = blob["media_type"] as? String ?? got.mediaType
            } else if let seq = (part["seq"] as? NSNumber)?.uint64Value, let topic = part["topic"] as? String {
                bytes = try c.awaitEvent(correlation: reply.correlation ?? "", pattern: topic, afterSeq: seq - 1, timeoutMilliseconds: 2000)?.payload
            }
            guard let bytes else { continue }
            let path = "\(folder)/\(name).\(Self.fileExtension(type))"
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            printError("saved \(path) (\(bytes.count) bytes, \(type))")
        }
    }

    static func fileExtension(_ type: String) -> String {
        if type.hasPrefix("image/png") { return "png" }
        if type.hasPrefix("audio/wav") || type.hasPrefix("audio/x-wav") { return "wav" }
        if type.contains("json") { return "json" }
        if type.hasPrefix("text/") { return "txt" }
        return "bin"
    }
}
