/// Counters the broker keeps since it started; `stats` and the metrics endpoint read them.
public struct BrokerCounters: Sendable, Equatable {
    public var published: UInt64 = 0
    public var duplicates: UInt64 = 0
    public var delivered: UInt64 = 0
    public var redelivered: UInt64 = 0
    public var acked: UInt64 = 0
    public var nacked: UInt64 = 0
    public var staleAcks: UInt64 = 0
    public var leaseTimeouts: UInt64 = 0
    public var deadLettered: UInt64 = 0
    public var expired: UInt64 = 0
    public var commits: UInt64 = 0
    public var firehoseDropped: UInt64 = 0
    public var sessionsExpired: UInt64 = 0
    public var joinsOpened: UInt64 = 0
    /// Closed joins by join name, then status (complete, partial, failed, discarded, deadlettered).
    public var joinsClosed: [String: [String: UInt64]] = [:]
    public var joinDuplicateParts: UInt64 = 0
    public var joinLateParts: UInt64 = 0
    public var blobsStored: UInt64 = 0
    /// `GETBLOB`s answered with the blob.
    public var blobsServed: UInt64 = 0
    /// `GETBLOB`s refused because the client's unsent replies were at `limits.max_blob_reply_bytes`.
    public var blobRepliesRefused: UInt64 = 0
    public var eventsRemoved: UInt64 = 0
    /// Reads through the read-only connection that failed (each sends reads to the store for a while).
    public var readerFailures: UInt64 = 0
    /// Refused commands, by wire error number.
    public var errors: [Int: UInt64] = [:]

    public init() {}
}
