import ArgumentParser
import ChorusClient
import Foundation

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show the running broker's health: groups (backlog, in flight, acks, dead letters), joins, log size, rates.",
        discussion: """
            Asks the broker (ADMIN stats). Per group: backlog (events for the group not yet looked at plus deliveries \
            waiting to be retried; '~' when the broker could not count which events match and counts all), in flight, consumers, delivered, acked, redelivered, dead-lettered; per join: open, \
            complete, partial, failed. Counters run since the broker started. --watch refreshes in place every \
            --interval seconds; --json prints the broker's document (one line per refresh with --watch).

            Exit codes: 0 ok, 65 refused by the broker (it could not read its log), 69 no broker.
            """
    )

    @Flag(name: .long, help: "Refresh until Ctrl-C.") var watch = false
    @Option(name: .long, help: "Seconds between refreshes with --watch (more than 0, at most 3600).") var interval: Double = 2
    @Flag(name: .long, help: "Print the JSON document.") var json = false
    @OptionGroup var client: ClientOptions

    func validate() throws {
        guard interval > 0 && interval <= 3600 else { throw ValidationError("--interval must be more than 0 and at most 3600 seconds") }
    }

    func run() throws {
        Signals.unblockTermination()
        Output.ignoreBrokenPipe()
        try client.withConnection { c in
            repeat {
                let s = try c.admin("stats", timeoutMilliseconds: client.timeoutMilliseconds)
                if json {
                    let data = try JSONSerialization.data(withJSONObject: s, options: [.sortedKeys, .withoutEscapingSlashes])
                    Output.line(String(decoding: data, as: UTF8.self))
                } else {
                    // Redraw in place on a terminal; into a pipe or file, one block after another.
                    if watch { Output.raw(isatty(STDOUT_FILENO) != 0 ? "\u{1B}[H\u{1B}[2J" : "\n") }
                    Output.line(Self.render(s))
                }
                if watch { usleep(UInt32(interval * 1_000_000)) }
            } while watch
        }
    }

    static func render(_ s: [String: Any]) -> String {
        let b = s["broker"] as? [String: Any] ?? [:]
        func n(_ v: Any?) -> String { (v as? NSNumber)?.stringValue ?? "-" }
        var lines: [String] = []
        let mib = Double((b["log_bytes"] as? NSNumber)?.int64Value ?? 0) / 1_048_576
        lines.append(
            "broker \(b["name"] as? String ?? "?") at \(b["endpoint"] as? String ?? "?")   up \(((b["uptime_ms"] as? NSNumber)?.intValue ?? 0) / 1000)s   sessions \(n(b["sessions"]))   last seq \(n(b["last_seq"]))")
        lines.append(String(format: "log    %@ events, %.1f MiB   rate %.1f ev/s (10 s), %.1f ev/s (60 s)",
                            n(b["log_events"]), mib, (b["events_per_second_10s"] as? NSNumber)?.doubleValue ?? 0,
                            (b["events_per_second_60s"] as? NSNumber)?.doubleValue ?? 0))
        lines.append("")
        lines.append("GROUP                BACKLOG  IN-FLIGHT  CONSUMERS  DELIVERED      ACKED  REDELIVERED  DEAD")
        for g in s["groups"] as? [[String: Any]] ?? [] {
            lines.append(
                (g["name"] as? String ?? "").padding(toLength: 20, withPad: " ", startingAt: 0) + " "
                    + [((g["backlog_exact"] as? Bool) == false ? "~" : "") + n(g["backlog"]), n(g["in_flight"]), n(g["consumers"]), n(g["delivered"]), n(g["acked"]), n(g["redelivered"]), n(g["dead_lettered"])]
                    .enumerated().map { i, v in String(repeating: " ", count: max(0, [7, 10, 10, 10, 10, 12, 5][i] - v.count)) + v }.joined(separator: " "))
        }
        if let joins = s["joins"] as? [[String: Any]], !joins.isEmpty {
            lines.append("")
            lines.append("JOIN                    OPEN  COMPLETE  PARTIAL  FAILED")
            for j in joins {
                lines.append(
                    (j["name"] as? String ?? "").padding(toLength: 20, withPad: " ", startingAt: 0) + " "
                        + [n(j["open"]), n(j["complete"]), n(j["partial"]), n(j["failed"])].enumerated()
                        .map { i, v in String(repeating: " ", count: max(0, [7, 9, 8, 7][i] - v.count)) + v }.joined(separator: " "))
            }
        }
        return lines.joined(separator: "\n")
    }
}
