import ArgumentParser
import ChorusClient
import Foundation

struct DLQCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Browse, redrive and purge dead letters.",
        subcommands: [List.self, Redrive.self, Purge.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List dead letters (newest first) with their reason and attempt history.",
            discussion: """
                Asks the broker (ADMIN dlq.list). Each dead letter shows its id (for redrive and purge), group, seq, \
                topic, correlation, attempts, the reason, and one line per attempt; --json prints one object per \
                dead letter. With none, a note goes to standard error and the status is still 0.

                Exit codes: 0 ok, 65 refused by the broker, 69 no broker.
                """)
        @Option(name: .long, help: "Only this group.") var group: String?
        @Option(name: .long, help: "At most this many.") var limit = 50
        @Flag(name: .long, help: "One JSON object per dead letter.") var json = false
        @OptionGroup var client: ClientOptions

        func run() throws {
            Signals.unblockTermination()
            Output.ignoreBrokenPipe()
            try client.withConnection { c in
                var args: [String: Any] = ["limit": limit]
                if let group { args["group"] = group }
                let rows = try c.admin("dlq.list", arguments: args, timeoutMilliseconds: client.timeoutMilliseconds)["dead_letters"] as? [[String: Any]] ?? []
                for row in rows {
                    if json {
                        Output.line(String(decoding: try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
                        continue
                    }
                    func s(_ k: String) -> String { (row[k] as? NSNumber)?.stringValue ?? (row[k] as? String) ?? "-" }
                    // Local time, like tail and inspect, with the date: dead letters are often days old.
                    func when(_ v: Any?) -> String {
                        let ms = (v as? NSNumber)?.int64Value ?? 0
                        return EventLine.date(ms) + " " + EventLine.clock(ms)
                    }
                    Output.line(
                        "#\(s("id"))  group=\(s("group"))  seq=\(s("seq"))  topic=\(s("topic"))  correlation=\(s("correlation"))  attempts=\(s("attempts"))  dead-lettered \(when(row["time"]))")
                    Output.line("    reason: \(s("reason"))")
                    for h in row["history"] as? [[String: Any]] ?? [] {
                        let consumer = (h["consumer"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? "-"
                        Output.line(
                            "    attempt \((h["attempt"] as? NSNumber)?.intValue ?? 0)  \(when(h["time"]))  \(consumer)  \(h["outcome"] as? String ?? ""): \(h["reason"] as? String ?? "")")
                    }
                }
                if rows.isEmpty && !json { printError("no dead letters\(group.map { " in group \($0)" } ?? "")") }
            }
        }
    }

    /// Which dead letters a redrive or purge acts on: a group, and ids or --all.
    struct Selection: ParsableArguments {
        @Option(name: .long, help: "The group.") var group: String
        @Argument(help: "Dead-letter ids (from 'chorus dlq list').") var ids: [Int] = []
        @Flag(name: .long, help: "Every dead letter of the group.") var all = false
        @OptionGroup var client: ClientOptions

        func validate() throws {
            if ids.isEmpty == all { return }
            throw ValidationError("give dead-letter ids or --all (not both)")
        }

        /// Sends the ADMIN operation and prints `done` with the count the broker returns under `key`.
        func perform(_ operation: String, key: String, done: String) throws {
            Signals.unblockTermination()
            try client.withConnection { c in
                let r = try c.admin(operation, arguments: ["group": group, "ids": ids, "all": all], timeoutMilliseconds: client.timeoutMilliseconds)
                Output.line("\(done) \((r[key] as? NSNumber)?.intValue ?? 0) dead letter(s) of group \(group)")
            }
        }
    }

    struct Redrive: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put dead letters back on their group (delivered again, attempts counted from zero).",
            discussion: """
                The events go back to the group's queue and are delivered again to its members; the dead-letter \
                records are removed. Give the ids from 'chorus dlq list', or --all for the whole group.

                Exit codes: 0 done, 64 usage (ids and --all, or neither), 65 refused (e.g. unknown group), 69 no \
                broker.
                """)
        @OptionGroup var selection: Selection

        func run() throws { try selection.perform("dlq.redrive", key: "redriven", done: "redriven") }
    }

    struct Purge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete dead letters for good.",
            discussion: """
                Removes the dead-letter records; the events stay in the log until retention removes them. Give the \
                ids from 'chorus dlq list', or --all for the whole group.

                Exit codes: 0 done, 64 usage (ids and --all, or neither), 65 refused (e.g. unknown group), 69 no \
                broker.
                """)
        @OptionGroup var selection: Selection

        func run() throws { try selection.perform("dlq.purge", key: "purged", done: "purged") }
    }
}

struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "Maintain the broker's log.", subcommands: [Compact.self])

    struct Compact: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply retention now: remove events past [retention] limits that nothing still needs.",
            discussion: """
                Asks the broker (ADMIN log.compact) to run its retention pass now instead of at the next interval, \
                and prints how many events and blobs it removed and the oldest seq still needed. Events a group has \
                not finished with, open joins and their blobs are kept (docs/STORAGE.md).

                Exit codes: 0 done, 65 refused by the broker, 69 no broker.
                """)
        @OptionGroup var client: ClientOptions

        func run() throws {
            Signals.unblockTermination()
            try client.withConnection { c in
                let r = try c.admin("log.compact", timeoutMilliseconds: max(client.timeoutMilliseconds, 60_000))
                Output.line("removed \((r["events_removed"] as? NSNumber)?.intValue ?? 0) event(s) and \((r["blobs_removed"] as? NSNumber)?.intValue ?? 0) blob(s); events from seq \((r["floor"] as? NSNumber)?.intValue ?? 0) on are still needed")
            }
        }
    }
}
