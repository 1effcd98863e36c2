import ArgumentParser
import ChorusClient
import ChorusProtocol
import Foundation

struct PublishCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish events and print their confirmed sequence numbers.",
        discussion: """
            Exactly one of --data, --file or --lines. A sequence number is printed only after the broker has \
            committed the event to its log. With --lines, every line of standard input is one event; the lines \
            that have arrived are sent together (PUBLISHMANY, up to 1000 or a quarter of --window per message), \
            up to --window unconfirmed at once, and one line is printed per event, in order. \
            A duplicate (same --key within the broker's idempotency window) prints the first sequence number \
            followed by ' duplicate'.

            Exit codes: 0 all confirmed, 65 refused by the broker, 69 no broker, 74 cannot read the input.
            """
    )

    @Argument(help: "Topic: dot-separated tokens of A-Z a-z 0-9 _ - : @ (e.g. jobs.image.render).")
    var topic: String

    @Option(name: .long, help: "Payload: a JSON document (content type application/json).")
    var data: String?

    @Option(name: .long, help: "Payload: the bytes of this file.")
    var file: String?

    @Flag(name: .long, help: "One event per line of standard input.")
    var lines = false

    @Option(name: .long, help: "Correlation id (ties a request to its results).")
    var correlation: String?

    @Option(name: .long, help: "Causation id (the event this one answers).")
    var causation: String?

    @Option(name: .long, help: "Idempotency key; with --lines, '-N' (the line number) is appended per line.")
    var key: String?

    @Option(name: .long, help: "Content type (default: application/json for --data, text/plain otherwise).")
    var contentType: String?

    @Option(name: .long, help: "Header NAME=VALUE; repeatable.")
    var header: [String] = []

    @Option(name: .long, help: "Deadline: milliseconds from now after which the event is not delivered.")
    var ttl: Int64?

    @Option(name: .long, help: "Producer name recorded on the event.")
    var producer = "chorus-publish"

    @Option(name: .long, help: "With --lines: most unconfirmed events in flight.")
    var window: Int = 1000

    @OptionGroup var client: ClientOptions

    func validate() throws {
        let sources = [data != nil, file != nil, lines].filter { $0 }.count
        guard sources == 1 else { throw ValidationError("give exactly one of --data, --file or --lines") }
        if let data, (try? JSONSerialization.jsonObject(with: Data(data.utf8), options: [.fragmentsAllowed])) == nil {
            throw ValidationError("--data must be JSON (for plain text use --lines or --file)")
        }
        for h in header where !h.contains("=") { throw ValidationError("--header must be NAME=VALUE, got '\(h)'") }
        guard window >= 1 else { throw ValidationError("--window must be at least 1") }
    }

    func properties(line: Int?) -> Properties {
        var p = Properties()
        if let correlation { p.append("correlation", correlation) }
        if let causation { p.append("causation", causation) }
        p.append("producer", producer)
        p.append("content-type", contentType ?? (data != nil ? "application/json" : "text/plain"))
        if let key { p.append("key", line.map { "\(key)-\($0)" } ?? key) }
        if let ttl {
            p.append("deadline", String(Int64(Date().timeIntervalSince1970 * 1000) + ttl))
        }
        for h in header {
            let parts = h.split(separator: "=", maxSplits: 1)
            p.append("h." + parts[0], parts.count > 1 ? String(parts[1]) : "")
        }
        return p
    }

    func run() throws {
        Signals.unblockTermination()
        Output.ignoreBrokenPipe()
        try client.withConnection { connection in
            if lines {
                try publishLines(connection)
                return
            }
            let payload: [UInt8]
            if let data {
                payload = Array(data.utf8)
            } else {
                guard let contents = FileManager.default.contents(atPath: file!) else {
                    printError("chorus publish: cannot read \(file!)")
                    throw ChorusExit.ioError
                }
                payload = Array(contents)
            }
            let (seq, dup) = try connection.publish(
                topic: topic, payload: payload, properties: properties(line: nil), timeoutMilliseconds: client.timeoutMilliseconds)
            Output.line(dup ? "\(seq) duplicate" : "\(seq)")
        }
    }

    /// Pipelines standard input: the lines that have arrived go in one PUBLISHMANY (at most 1000, and a quarter of
    /// `window` so that several are in flight), while fewer than `window` events are unconfirmed; confirmations
    /// are printed one line per event, in order. A broker from before PUBLISHMANY (no `max-batch` in its
    /// WELCOME) gets one PUBLISH per line instead; one with `packed=1` gets each PUBLISHMANY packed when it is
    /// well below the broker's `max-frame`.
    func publishLines(_ connection: BrokerConnection) throws {
        let welcome = try connection.hello(name: producer, timeoutMilliseconds: client.timeoutMilliseconds)
        let perMessage = welcome["max-batch"] == nil ? 1 : max(1, min(ClientCommand.maxBatch, window / 4))
        // One frame for a batch's events where the broker takes it (docs/PROTOCOL.md, section 6.14), as long as
        // that frame stays well below the largest frame the broker reads (`max-frame`); a larger batch goes as
        // triples, a frame per payload.
        let packedLimit = welcome["packed"] == "1" ? (welcome["max-frame"].flatMap(Int.init) ?? 0) / 2 : 0
        var reader = LineReader(fd: 0)
        var outstanding: [(id: [UInt8], firstLine: Int, count: Int)] = []
        var head = 0
        var unconfirmed = 0
        var lineNumber = 0
        var failed: (any Error)?
        func report(_ error: any Error, lines first: Int, _ count: Int) {
            printError("chorus publish: line\(count > 1 ? "s \(first)-\(first + count - 1)" : " \(first)"): \(error)")
            failed = error
        }
        func print(_ outcome: PublishOutcome, line: Int) {
            switch outcome {
            case .new(let seq): Output.line("\(seq)")
            case .duplicate(let seq): Output.line("\(seq) duplicate")
            case .refused(let e): report(ChorusClientError.refused(code: e.code, message: e.message), lines: line, 1)
            }
        }
        func settleOne() throws {
            let m = outstanding[head]
            head += 1
            unconfirmed -= m.count
            do {
                switch try connection.awaitReply(m.id, timeoutMilliseconds: client.timeoutMilliseconds) {
                case .confirmMany(_, let outcomes) where outcomes.count == m.count:
                    for (offset, outcome) in outcomes.enumerated() { print(outcome, line: m.firstLine + offset) }
                case .confirm(_, let seq, let duplicate) where m.count == 1:
                    print(duplicate ? .duplicate(seq: seq) : .new(seq: seq), line: m.firstLine)
                default:
                    throw ChorusClientError.unexpected("expected a confirmation of \(m.count) event(s)")
                }
            } catch let e as ChorusClientError {
                if case .noAnswer = e { throw e }
                report(e, lines: m.firstLine, m.count)
            }
        }
        let readFailed: Bool
        do {
            while let lines = try reader.nextLines(limit: perMessage) {
                while head < outstanding.count && unconfirmed + lines.count > window { try settleOne() }
                // Built after the wait for room, so a --ttl deadline counts from when the event is sent.
                let requests = lines.map { line in
                    lineNumber += 1
                    return PublishRequest(topic: topic, properties: properties(line: lineNumber), payload: line)
                }
                let r = connection.makeRequestID()
                if perMessage == 1 {
                    try connection.send(.publish(requestID: r, request: requests[0]))
                } else {
                    let bytes = requests.reduce(0) { $0 + $1.payload.count + $1.topic.utf8.count + 512 }
                    try connection.sendPublishMany(requestID: r, requests, packed: bytes <= packedLimit)
                }
                outstanding.append((r, lineNumber - requests.count + 1, requests.count))
                unconfirmed += requests.count
                while unconfirmed >= window { try settleOne() }
            }
            readFailed = false
        } catch let e as POSIXError {
            printError("chorus publish: cannot read standard input: \(e.localizedDescription)")
            readFailed = true
        }
        while head < outstanding.count { try settleOne() }
        if readFailed { throw ChorusExit.ioError }
        if let failed { throw fail(failed) }
    }
}
