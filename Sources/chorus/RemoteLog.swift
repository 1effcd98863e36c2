import ChorusClient
import ChorusProtocol
import ChorusStore
import Foundation

/// Where `chorus tail` reads: the log file itself, or a running broker on another host.
protocol TailSource {
    var name: String { get }
    func lastSequence() throws -> UInt64
    func startOfLast(_ count: Int, filter: LogFilter, through: UInt64) throws -> UInt64
    func page(after: UInt64, through: UInt64, filter: LogFilter) throws -> LogPage
}

extension LogReader: TailSource {
    var name: String { path }
    func page(after: UInt64, through: UInt64, filter: LogFilter) throws -> LogPage {
        try page(after: after, through: through, filter: filter, limit: LogReader.pageSize)
    }
}

/// The log of a running broker, read page by page through the protocol (ADMIN log.read): the broker applies
/// the same filters with its own read-only connection, so only matching events cross the network.
final class RemoteLog: TailSource {
    let connection: BrokerConnection
    let timeout: Int
    var name: String { connection.endpoint }

    init(endpoint: String, timeoutMilliseconds: Int) throws {
        connection = try BrokerConnection(endpoint: endpoint)
        timeout = timeoutMilliseconds
    }

    func read(_ filter: LogFilter, _ extra: [String: Any]) throws -> [String: Any] {
        var args = extra
        if let t = filter.topics { args["topics"] = t.patterns.map(\.text) }
        if let c = filter.correlation { args["correlation"] = c }
        if let p = filter.producer { args["producer"] = p }
        if let s = filter.since { args["since"] = s }
        if let u = filter.until { args["until"] = u }
        if let f = filter.fromSequence { args["from"] = f }
        return try connection.admin("log.read", arguments: args, timeoutMilliseconds: timeout)
    }

    func lastSequence() throws -> UInt64 {
        (try read(LogFilter(), ["after": UInt64(1) << 62])["last_seq"] as? NSNumber)?.uint64Value ?? 0
    }

    func startOfLast(_ count: Int, filter: LogFilter, through: UInt64) throws -> UInt64 {
        let r = try read(filter, ["last": count, "limit": 1])
        let events = r["events"] as? [[String: Any]] ?? []
        return (events.first?["seq"] as? NSNumber)?.uint64Value ?? through + 1
    }

    func page(after: UInt64, through: UInt64, filter: LogFilter) throws -> LogPage {
        let r = try read(filter, ["after": after, "limit": 1000])
        let events = (r["events"] as? [[String: Any]] ?? []).map(Self.event)
        return LogPage(events: events, scannedThrough: (r["scanned_through"] as? NSNumber)?.uint64Value ?? through)
    }

    static func event(_ o: [String: Any]) -> Event {
        Event(
            seq: (o["seq"] as? NSNumber)?.uint64Value ?? 0, id: o["id"] as? String ?? "", topic: o["topic"] as? String ?? "",
            correlation: o["correlation"] as? String, causation: o["causation"] as? String, producer: o["producer"] as? String,
            time: (o["time"] as? NSNumber)?.int64Value ?? 0, contentType: o["content_type"] as? String,
            deadline: (o["deadline"] as? NSNumber)?.int64Value,
            headers: (o["headers"] as? [[String]] ?? []).compactMap { $0.count == 2 ? ($0[0], $0[1]) : nil },
            payload: Array(Data(base64Encoded: o["payload_base64"] as? String ?? "") ?? Data()))
    }
}
