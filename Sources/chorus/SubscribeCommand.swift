import ArgumentParser
import ChorusClient
import ChorusProtocol
import Foundation

struct SubscribeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscribe",
        abstract: "Join a consumer group, print events as they arrive, and ack them.",
        discussion: """
            Patterns: '*' matches one token, '>' the rest (e.g. 'jobs.>' or 'jobs.*.done'). Every group whose \
            patterns match gets every event; members of one group share the events. A new group starts where \
            --start says (default: new events only). Each event is acked after it is printed, unless --no-ack.

            Output: one line per event (sequence, topic, correlation, attempt, payload preview), or with --json \
            one JSON object per line with fields seq, id, topic, correlation, causation, producer, time, \
            content_type, deadline, headers, group, attempt, payload (payload_base64 for binary).

            Exit codes: 0 after --count events or Ctrl-C, 65 refused (e.g. GROUP_MISMATCH), 69 no broker.
            """
    )

    @Argument(help: "One or more topic patterns.")
    var patterns: [String]

    @Option(name: .long, help: "Consumer group name.")
    var group: String

    @Option(name: .long, help: "Exit after this many events. Exactly this many are taken from the group: the credit is lowered as the count is reached, so none is handed back at exit as a failed attempt.")
    var count: Int?

    @Flag(name: .long, help: "One JSON object per line.")
    var json = false

    @Option(name: .long, help: "Most unacked deliveries in flight to this member.")
    var credit: Int = 100

    @Option(name: .long, help: "Where a new group starts: new, first, or seq:N.")
    var start: String = "new"

    @Flag(name: .long, help: "Do not ack. The events stay with this command until it exits or the group's ack timeout passes (default 30 min), then go back to the group, each as a failed attempt (max-attempts counts it). To look without consuming, use chorus tail.")
    var noAck = false

    @Option(name: .long, help: "Client name shown as the consumer of deliveries.")
    var name: String = "chorus-subscribe"

    @OptionGroup var client: ClientOptions

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        guard credit >= 1 else { throw ValidationError("--credit must be at least 1") }
        do { _ = try StartPosition(start) } catch { throw ValidationError("--start must be new, first or seq:N") }
    }

    func run() throws {
        Signals.unblockTermination()
        Output.ignoreBrokenPipe()
        try client.withConnection { connection in
            try connection.hello(name: name, timeoutMilliseconds: client.timeoutMilliseconds)
            // With --count, never more in flight than are still wanted: an event taken beyond the count would go
            // back to the group at exit as a failed attempt (and, at max-attempts, to the dead letters).
            var inForce = count.map { min(credit, $0) } ?? credit
            try connection.subscribe(
                group: group, patterns: patterns, credit: inForce, start: try StartPosition(start),
                timeoutMilliseconds: client.timeoutMilliseconds)
            var seen = 0
            var lastHeardCheck = connection.lastHeard
            // Request ids of the SUBSCRIBEs that lower the credit (below): one refused means the credit was not
            // lowered, and this command could take more than --count.
            var lowering: Set<[UInt8]> = []
            while count.map({ seen < $0 }) ?? true {
                guard let message = try connection.receive(timeoutMilliseconds: 1000) else {
                    // The broker heartbeats every interval; a long silence means it is gone.
                    if connection.lastHeard == lastHeardCheck, BrokerConnection.now() - connection.lastHeard > 10_000 {
                        throw ChorusClientError.noAnswer(endpoint: connection.endpoint, waitedMilliseconds: 10_000)
                    }
                    lastHeardCheck = connection.lastHeard
                    continue
                }
                switch message {
                case .deliver(let d):
                    printDelivery(d)
                    seen += 1
                    // Credit lowered to what is still wanted before this ack frees a slot: then exactly --count
                    // events are ever delivered to this command (the ones in flight are within that). Not waited
                    // for: the broker takes a session's commands in order, so the SUBSCRIBE is in force before
                    // the ACK behind it, and its SUBSCRIBED (or ERROR) is read by this loop like any message.
                    if let count, count - seen < inForce, !noAck {
                        inForce = count - seen
                        let r = connection.makeRequestID()
                        lowering.insert(r)
                        try connection.send(
                            .subscribe(requestID: r, group: group, patterns: patterns, properties: Properties([("credit", String(inForce))])))
                    }
                    if !noAck { try connection.ack(group: d.group, leases: [d.lease]) }
                    if noAck && seen == 1 {
                        // Said at once, not at exit: a Ctrl-C must not be the first the user hears of it.
                        printError("chorus subscribe: --no-ack: events shown here go back to group \(group) when this command exits (or at the group's ack timeout), each as a failed attempt; use chorus tail to look without consuming")
                    }
                case .error(let r, let code, let text):
                    if lowering.contains(r) { throw ChorusClientError.refused(code: code, message: text) }
                    printError("chorus subscribe: broker: \(code.name) (\(code.number)): \(text)")
                case .subscribed(let r, _, _):
                    lowering.remove(r)
                default:
                    break
                }
            }
        }
    }


    func printDelivery(_ d: Delivery) {
        if json {
            Output.line(
                JSONText.event(d.event) { j in
                    j.add("group", string: d.group)
                    j.add("attempt", number: Int64(d.attempt))
                })
            return
        }
        let preview = String(decoding: d.event.payload.prefix(80), as: UTF8.self)
            .replacingOccurrences(of: "\n", with: " ")
        Output.line("\(d.event.seq) \(d.event.topic) corr=\(d.event.correlation ?? "-") attempt=\(d.attempt) \(preview)")
    }
}
