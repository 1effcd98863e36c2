import ArgumentParser
import ChorusClient
import ChorusProtocol
import ChorusStore

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Tell the story of one request: its events, failed deliveries, dead letters and joins, in time order.",
        discussion: """
            Reads the log read-only, like 'chorus tail'. Shows every event carrying the correlation id (the \
            request, its results, its '$dlq.GROUP' dead letters) in one timeline with the delivery attempts that \
            failed (nacked, rejected, timed out, released) and the dead-lettering, the time between steps, and \
            then the deliveries still unsettled. A delivery that was acked leaves no trace in the log: its failed \
            attempts are shown only while it is unsettled or after it was dead-lettered.

            --json prints one JSON document: {"correlation", "events", "dead_letters", "joins", "join_parts", \
            "pending"}; see docs/CLI-OPERATORS.md for every field.

            Exit codes: 0 found, 1 no event has this correlation id, 64 usage, 65 not a Chorus log, 66 no log \
            file, 74 read error.
            """
    )

    @Argument(help: ArgumentHelp("The correlation id.", valueName: "id"))
    var correlation: String

    @OptionGroup var location: LogLocation

    @Flag(name: .long, help: "One JSON document instead of the timeline.")
    var json = false

    func run() throws {
        Signals.unblockTermination()
        Output.ignoreBrokenPipe()
        let reader = try location.open(command: "inspect")
        let story: CorrelationStory
        do {
            story = try reader.story(correlation: correlation)
        } catch {
            printError("chorus inspect: reading \(reader.path): \(error)")
            throw ChorusExit.ioError
        }
        guard !story.events.isEmpty else {
            printError("chorus inspect: no events with correlation \(correlation)")
            throw ExitCode.failure
        }
        if json {
            printJSON(story)
        } else {
            Timeline(story: story, line: EventLine(colors: EventLine.colorsWanted())).print()
        }
    }

    // MARK: JSON

    /// One document, written an element per line so a long story streams and stays greppable.
    func printJSON(_ story: CorrelationStory) {
        Output.line("{\"correlation\":\(JSONText.quote(story.correlation)),\"events\":[")
        Self.lines(story.events.map { JSONText.event($0) })
        Output.line("],\"dead_letters\":[")
        Self.lines(
            story.deadLetters.map { d in
                var j = JSONText()
                j.add("id", number: d.id)
                j.add("group", string: d.groupName)
                j.add("seq", number: Int64(d.seq))
                j.add("time", number: d.time)
                j.add("attempts", number: Int64(d.attempts))
                j.add("reason", string: d.reason)
                j.add("history", raw: Self.history(d.history))
                return j.text
            })
        Output.line("],\"joins\":[")
        Self.lines(
            story.joins.map { j in
                var o = JSONText()
                o.add("name", string: j.name)
                o.add("status", string: j.status)
                o.add("open_seq", number: Int64(j.openSeq))
                o.add("opened_at", number: j.openedAt)
                o.add("deadline", number: j.deadline)
                o.add("closed_at", number: j.closedAt)
                o.add("result_seq", number: j.resultSeq.map { Int64($0) })
                o.add("reason", string: j.reason)
                return o.text
            })
        Output.line("],\"join_parts\":[")
        Self.lines(
            story.joinParts.map { p in
                var o = JSONText()
                o.add("join", string: p.name)
                o.add("part", string: p.part)
                o.add("status", string: p.status)
                o.add("seq", number: Int64(p.seq))
                o.add("producer", string: p.producer)
                o.add("attempt", number: p.attempt.map { Int64($0) })
                o.add("received_at", number: p.receivedAt)
                o.add("error", string: p.error)
                return o.text
            })
        Output.line("],\"pending\":[")
        Self.lines(
            story.pending.map { p in
                var j = JSONText()
                j.add("group", string: p.groupName)
                j.add("seq", number: Int64(p.record.seq))
                j.add("attempt", number: Int64(p.record.attempt))
                j.add("state", string: p.record.token != 0 || p.firstDelivery ? "in_flight" : "waiting")
                j.add("consumer", string: p.record.consumer)
                j.add("due", number: p.firstDelivery ? nil : p.record.due)
                j.add("history", raw: Self.history(p.record.history))
                return j.text
            })
        Output.line("]}")
    }

    static func lines(_ items: [String]) {
        for (i, item) in items.enumerated() { Output.line(i + 1 < items.count ? item + "," : item) }
    }

    static func history(_ text: String) -> String {
        "["
            + DeliveryAttempt.parse(history: text).map { a in
                var j = JSONText()
                j.add("attempt", number: Int64(a.attempt))
                j.add("time", number: a.time)
                j.add("consumer", string: a.consumer)
                j.add("outcome", string: a.outcome)
                j.add("reason", string: a.reason)
                return j.text
            }.joined(separator: ",") + "]"
    }
}

/// The human form of a story: a header, one line per step in time order with the time since the previous step,
/// then what is still unsettled.
///
///     req-9: 4 events, 1 dead letter, 0 unsettled deliveries (times local, 2026-01-05)
///     14:03:07.123            #12 work (api) id=r1 {"job":1}
///     14:03:07.140    +17 ms      [g] #12 attempt 1 nacked by worker: GPU busy
///     14:03:07.902   +762 ms      [g] #12 dead-lettered after 2 attempts: max attempts (2) reached; ...
///     14:03:07.902     +0 ms  #14 $dlq.g (chorus) id=ev-… causation=r1 {"job":1}
struct Timeline {
    let story: CorrelationStory
    let line: EventLine

    struct Step {
        var time: Int64
        /// The event the step is about, then the kind, order steps at the same millisecond: a publish before its
        /// failures, a failure before the dead-lettering, and that before the `$dlq` event (a later seq).
        var seq: UInt64
        var rank: Int
        var text: String
    }

    func steps() -> [Step] {
        var steps: [Step] = []
        for e in story.events {
            var text = line.paint("#\(e.seq)", .bold) + " " + line.paint(e.topic, e.topic.hasPrefix("$") ? .red : .cyan)
            if let producer = e.producer { text += " (" + line.paint(EventLine.field(producer), .green) + ")" }
            text += " id=" + EventLine.field(e.id)
            if let causation = e.causation { text += " causation=" + EventLine.field(causation) }
            let preview = EventLine.preview(e)
            text += " " + (preview.isText ? preview.text : line.paint(preview.text, .dim))
            steps.append(Step(time: e.time, seq: e.seq, rank: 0, text: text))
        }
        func attempts(_ history: String, group: String, seq: UInt64) {
            for a in DeliveryAttempt.parse(history: history) {
                var text =
                    "    [\(group)] #\(seq) attempt \(a.attempt) "
                    + line.paint(a.outcome, a.outcome == "timeout" || a.outcome == "rejected" ? .red : .yellow)
                if let consumer = a.consumer { text += " by " + consumer }
                if !a.reason.isEmpty { text += ": " + a.reason }
                steps.append(Step(time: a.time, seq: seq, rank: 1, text: text))
            }
        }
        for d in story.deadLetters {
            attempts(d.history, group: d.groupName, seq: d.seq)
            let text =
                "    [\(d.groupName)] #\(d.seq) " + line.paint("dead-lettered", .red)
                + " after \(d.attempts) attempt\(d.attempts == 1 ? "" : "s"): \(d.reason)"
            steps.append(Step(time: d.time, seq: d.seq, rank: 2, text: text))
        }
        for p in story.pending { attempts(p.record.history, group: p.groupName, seq: p.record.seq) }
        for j in story.joins {
            steps.append(Step(time: j.openedAt, seq: j.openSeq, rank: 1, text: "    [join \(j.name)] opened by #\(j.openSeq), deadline \(EventLine.clock(j.deadline))"))
            if let closed = j.closedAt {
                let color: EventLine.Color = j.status == "complete" ? .green : .red
                var text = "    [join \(j.name)] " + line.paint("closed \(j.status)", color) + ": \(j.reason ?? "")"
                if let result = j.resultSeq { text += " -> #\(result)" }
                steps.append(Step(time: closed, seq: j.resultSeq ?? j.openSeq, rank: 0, text: text))
            } else {
                steps.append(Step(time: j.openedAt, seq: j.openSeq, rank: 2, text: "    [join \(j.name)] " + line.paint("still open", .magenta)))
            }
        }
        for p in story.joinParts {
            let color: EventLine.Color = p.status == "ok" ? .green : (p.status == "duplicate" ? .dim : .red)
            var text = "    [join \(p.name)] part \(p.part) " + line.paint(p.status, color)
            if p.seq > 0 { text += " #\(p.seq)" }
            if let producer = p.producer { text += " from \(producer)" }
            if let attempt = p.attempt { text += " (attempt \(attempt))" }
            if let error = p.error { text += ": \(error)" }
            steps.append(Step(time: p.receivedAt, seq: p.seq, rank: 1, text: text))
        }
        return steps.sorted { ($0.time, $0.seq, $0.rank) < ($1.time, $1.seq, $1.rank) }
    }

    func print() {
        let steps = steps()
        let e = story.events.count
        let d = story.deadLetters.count
        let p = story.pending.count
        let firstDate = steps.first.map { EventLine.date($0.time) } ?? ""
        Output.line(
            "\(line.paint(EventLine.field(story.correlation), .yellow)): \(e) event\(e == 1 ? "" : "s"), "
                + "\(d) dead letter\(d == 1 ? "" : "s"), "
                + "\(p) unsettled deliver\(p == 1 ? "y" : "ies") (times local, \(firstDate))")
        var previous: Int64?
        var date = firstDate
        for step in steps {
            let day = EventLine.date(step.time)
            if day != date {
                Output.line("-- \(day) --")
                date = day
            }
            let delta = previous.map { Self.delta(step.time - $0) } ?? ""
            Output.line(line.paint(EventLine.clock(step.time), .dim) + " " + Self.pad(delta, 10) + "  " + step.text)
            previous = step.time
        }
        guard !story.pending.isEmpty else { return }
        Output.line("unsettled now:")
        for pending in story.pending {
            let r = pending.record
            let failed = DeliveryAttempt.parse(history: r.history).count
            var text = "    [\(pending.groupName)] #\(r.seq) "
            if pending.firstDelivery {
                // Only the broker's memory knows who holds a first delivery and until when.
                text += "attempt 1 " + line.paint("in flight", .magenta) + " (first delivery)"
            } else if r.token != 0 {
                text += "attempt \(r.attempt) " + line.paint("in flight", .magenta)
                if let consumer = r.consumer { text += " to " + consumer }
                text += ", lease until \(EventLine.clock(r.due))"
            } else {
                text += line.paint("waiting", .magenta) + " for attempt \(r.attempt + 1) from \(EventLine.clock(r.due))"
            }
            if failed > 0 { text += " (\(failed) failed attempt\(failed == 1 ? "" : "s") above)" }
            Output.line(text)
        }
    }

    /// `+12 ms`, `+4.25 s`, `+3m07s`, `+2h05m`.
    static func delta(_ ms: Int64) -> String {
        if ms < 0 { return "-" + delta(-ms).dropFirst() }
        if ms < 10_000 { return "+\(ms) ms" }
        if ms < 60_000 { return "+\(ms / 1000).\(two(ms % 1000 / 10)) s" }
        if ms < 3_600_000 { return "+\(ms / 60_000)m\(two(ms % 60_000 / 1000))s" }
        return "+\(ms / 3_600_000)h\(two(ms % 3_600_000 / 60_000))m"
    }

    private static func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }

    private static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }
}
