import ArgumentParser
import ChorusClient
import ChorusProtocol
import ChorusStore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

struct TailCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print events from the log file, and follow new ones as they are committed.",
        discussion: """
            Reads the SQLite log directly, read-only, whether or not a broker is running (WAL lets a reader work \
            beside the broker); with --endpoint it asks a running broker instead (another host, say). Without -n, --from or --since it prints the last 10 matching events, like \
            tail(1); '--from 1' prints the whole log. Filters combine with AND; several --topic patterns are \
            OR'ed ('*' one token, '>' the rest; '$dlq.>' for dead letters, which '>' alone does not match). \
            With --follow, new events appear within about 100 ms of their commit, until Ctrl-C (or --until passes).

            Output: one line per event (local time, seq, topic, correlation, producer, payload preview), or with \
            --json one JSON object per line with fields seq, id, topic, correlation, causation, producer, time, \
            content_type, deadline, headers, payload (payload_base64 for binary). See docs/CLI-OPERATORS.md.

            Exit codes: 0 done (or a closed pipe), 130 Ctrl-C, 64 usage, 65 not a Chorus log (or, with \
            --endpoint, the broker refused), 66 no log file, 69 no broker answered (--endpoint), 74 read error.
            """
    )

    @OptionGroup var location: LogLocation

    @Option(name: .long, help: ArgumentHelp("Read from a running broker at this endpoint instead of the file (another host, say).", valueName: "endpoint"))
    var endpoint: String?

    @Option(name: .long, help: ArgumentHelp("With --endpoint: seconds to wait for each answer from the broker.", valueName: "seconds"))
    var timeout: Double = 10

    @Flag(name: [.customShort("f"), .long], help: "Keep running and print new events as they are committed.")
    var follow = false

    @Option(
        name: .long,
        help: ArgumentHelp("Only topics matching this pattern; repeatable (patterns are OR'ed).", valueName: "pattern"))
    var topic: [String] = []

    @Option(name: .long, help: ArgumentHelp("Only events with this correlation id.", valueName: "id"))
    var correlation: String?

    @Option(name: .long, help: ArgumentHelp("Only events from this producer.", valueName: "name"))
    var producer: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Only events at or after: a duration ago (10m, 2h, 1d), Unix ms, or ISO 8601.", valueName: "time"))
    var since: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Only events before: a duration ago (10m, 2h, 1d), Unix ms, or ISO 8601.", valueName: "time")
    )
    var until: String?

    @Option(name: .long, help: ArgumentHelp("Only events with a sequence number of at least this.", valueName: "seq"))
    var from: UInt64?

    @Option(
        name: [.customShort("n"), .customLong("last")],
        help: ArgumentHelp("Start with the last N matching events (default 10 without --from/--since).", valueName: "n")
    )
    var count: Int?

    @Flag(name: .long, help: "One JSON object per line.")
    var json = false

    /// How often --follow looks for new commits: half the promised 100 ms.
    static let pollMicroseconds: useconds_t = 50_000
    /// With --follow and --until: how long past --until to keep reading, for an iteration that started before
    /// --until (events carry the start time of the broker iteration that committed them) but committed after.
    static let untilGraceMilliseconds: Int64 = 2000

    func validate() throws {
        if let count, count < 0 { throw ValidationError("-n must be 0 or more") }
        try ClientOptions.validate(timeout: timeout)
        _ = try filter(now: BrokerConnection.now())
    }

    /// The filter the options describe, with relative times taken from `now`.
    func filter(now: Int64) throws -> LogFilter {
        var f = LogFilter(correlation: correlation, producer: producer, fromSequence: from)
        if !topic.isEmpty {
            do { f.topics = try TopicPatternSet(texts: topic) } catch {
                throw ValidationError("--topic: \(error.message)")
            }
        }
        do {
            f.since = try since.map { try TimeArgument.parse($0, now: now) }
        } catch { throw ValidationError("--since: \(error)") }
        do {
            f.until = try until.map { try TimeArgument.parse($0, now: now) }
        } catch { throw ValidationError("--until: \(error)") }
        return f
    }

    func run() throws {
        Signals.unblockTermination()
        Output.ignoreBrokenPipe()
        Interruption.exitQuietly()
        let filter = try filter(now: BrokerConnection.now())
        let reader: any TailSource
        if let endpoint {
            do { reader = try RemoteLog(endpoint: endpoint, timeoutMilliseconds: Int(timeout * 1000)) } catch { throw fail(error) }
        } else {
            reader = try location.open(command: "tail")
        }
        var line = EventLine(colors: !json && EventLine.colorsWanted())
        do {
            var through = try reader.lastSequence()
            var position: UInt64 = 0
            if let n = count ?? (from == nil && since == nil ? 10 : nil) {
                position = try reader.startOfLast(n, filter: filter, through: through) - 1
            }
            while true {
                let page = try reader.page(after: position, through: through, filter: filter)
                // The page is already copied out and its statement reset: printing holds no read snapshot.
                if !page.events.isEmpty {
                    // One write per page: a million events are a thousand writes, not a million.
                    var text = ""
                    for (i, e) in page.events.enumerated() {
                        if i > 0 { text += "\n" }
                        text += json ? JSONText.event(e) : line.format(e)
                    }
                    Output.line(text)
                }
                position = page.scannedThrough
                if position < through { continue }
                guard follow else { return }
                // Caught up: wait for the next commit. max(seq) is a lookup at the end of the rowid tree.
                repeat {
                    if let until = filter.until, BrokerConnection.now() > until + Self.untilGraceMilliseconds { return }
                    usleep(Self.pollMicroseconds)
                    through = try reader.lastSequence()
                } while through <= position
            }
        } catch let error as ChorusClientError {
            throw fail(error)
        } catch {
            printError("chorus tail: reading \(reader.name): \(error)")
            throw ChorusExit.ioError
        }
    }

}

/// Where the log file is: `--log PATH`, or `--data-dir DIR` (the broker's `broker.data_dir`), else
/// `data/chorus.sqlite` as a broker started in the same folder writes it.
struct LogLocation: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The log file (default: data/chorus.sqlite).", valueName: "path"))
    var log: String?

    @Option(name: .long, help: ArgumentHelp("The broker's data directory, holding chorus.sqlite.", valueName: "dir"))
    var dataDir: String?

    func validate() throws {
        if log != nil && dataDir != nil { throw ValidationError("give --log or --data-dir, not both") }
    }

    var path: String { log ?? dataDir.map { $0 + "/chorus.sqlite" } ?? Self.defaultPath }

    /// The log of a broker started with the default config in the current folder.
    static let defaultPath = "data/chorus.sqlite"

    /// Opens the log read-only, or prints why not and throws the exit status (66 missing or unreadable,
    /// 65 not a Chorus log).
    func open(command: String) throws -> LogReader {
        do {
            return try LogReader(path: path)
        } catch {
            printError("chorus \(command): \(error)")
            throw error.code == .notALog ? ChorusExit.notALog : ChorusExit.noInput
        }
    }
}

extension ChorusExit {
    /// The log file does not exist or cannot be read (EX_NOINPUT).
    static let noInput = ExitCode(66)
    /// The file is not a Chorus log (EX_DATAERR).
    static let notALog = ExitCode(65)
}

/// Ctrl-C while reading or following ends the program at once and quietly, with the shell's 130. Nothing is
/// buffered (each page is written whole with write(2)) and the connection is read-only, so there is nothing to
/// flush or roll back; `_exit` is async-signal-safe where `exit` is not.
enum Interruption {
    static func exitQuietly() {
        signal(SIGINT) { _ in _exit(130) }
    }
}
