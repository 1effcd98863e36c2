import ChorusProtocol

/// Which events an operator wants to see from the log (`chorus tail`): every condition that is set must hold.
///
/// `LogReader` pushes the conditions SQLite can test on a column (sequence range, correlation, producer, time
/// range) into the `WHERE` clause, so rows that fail them are never decoded; the topic patterns are matched in
/// Swift with the broker's own `TopicPatternSet`, so `chorus tail --topic P` shows exactly what a group
/// subscribed to `P` would get.
public struct LogFilter: Equatable, Sendable {
    /// Topic patterns, OR'ed among themselves (`*` one token, `>` the rest); nil for every topic. As for a
    /// subscription, `$dlq.*` topics only match patterns that start with `$`.
    public var topics: TopicPatternSet?
    /// Only events with exactly this correlation id.
    public var correlation: String?
    /// Only events with exactly this producer.
    public var producer: String?
    /// Only events accepted at or after this time (ms since the epoch, inclusive).
    public var since: Int64?
    /// Only events accepted before this time (ms since the epoch, exclusive).
    public var until: Int64?
    /// Only events with `seq >= fromSequence`.
    public var fromSequence: UInt64?

    public init(
        topics: TopicPatternSet? = nil, correlation: String? = nil, producer: String? = nil, since: Int64? = nil,
        until: Int64? = nil, fromSequence: UInt64? = nil
    ) {
        self.topics = topics
        self.correlation = correlation
        self.producer = producer
        self.since = since
        self.until = until
        self.fromSequence = fromSequence
    }

    /// Whether `event` passes every condition (the same test `LogReader` makes, half in SQL, half in Swift).
    public func matches(_ event: Event) -> Bool {
        if let fromSequence, event.seq < fromSequence { return false }
        if let correlation, event.correlation != correlation { return false }
        if let producer, event.producer != producer { return false }
        if let since, event.time < since { return false }
        if let until, event.time >= until { return false }
        return matchesTopic(event.topic)
    }

    /// Whether `topic` passes the topic patterns (always, when there are none).
    public func matchesTopic(_ topic: String) -> Bool {
        topics?.matches(Array(topic.utf8)) ?? true
    }

    /// The SQL conditions on columns (after `seq > ?1 AND seq <= ?2`) and their values, bound from `?3` on.
    /// The topic is left out: SQLite has no pattern matcher with the broker's rules.
    var sqlConditions: (sql: String, values: [SQLValue]) {
        var sql = ""
        var values: [SQLValue] = []
        func add(_ condition: String, _ value: SQLValue) {
            values.append(value)
            sql += " AND \(condition) ?\(values.count + 2)"
        }
        if let correlation { add("correlation =", .text(correlation)) }
        if let producer { add("producer =", .text(producer)) }
        if let since { add("time >=", .integer(since)) }
        if let until { add("time <", .integer(until)) }
        return (sql, values)
    }
}

/// A value bound to a statement parameter.
enum SQLValue: Equatable {
    case integer(Int64)
    case text(String)

    func bind(to statement: SQLiteStatement, at index: Int32) {
        switch self {
        case .integer(let v): statement.bind(index, v)
        case .text(let v): statement.bind(index, v)
        }
    }
}
