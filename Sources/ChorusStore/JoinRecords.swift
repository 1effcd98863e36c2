/// A join as stored: one row per (join name, correlation id), open until it closes with a merged record.
public struct JoinRecord: Equatable, Sendable {
    public var name: String
    public var correlation: String
    /// `open`, or how it closed: `complete`, `partial`, `failed`, `discarded`, `deadlettered`.
    public var status: String
    /// The event that opened it.
    public var openSeq: UInt64
    public var openedAt: Int64
    /// When the whole join times out (ms since the epoch); survives restarts.
    public var deadline: Int64
    public var closedAt: Int64?
    /// The merged record's sequence number, when one was emitted.
    public var resultSeq: UInt64?
    /// Why it closed.
    public var reason: String?
    /// Once closed, the result events it accepted as `ok`, as a JSON object of part name to `seq`
    /// (`{"text":12,"image":14}`); nil while open, and in logs written before schema version 5, whose `ok`
    /// parts are `join_parts` rows instead.
    public var parts: String?

    public init(
        name: String, correlation: String, status: String, openSeq: UInt64, openedAt: Int64, deadline: Int64,
        closedAt: Int64? = nil, resultSeq: UInt64? = nil, reason: String? = nil, parts: String? = nil
    ) {
        self.name = name
        self.correlation = correlation
        self.status = status
        self.openSeq = openSeq
        self.openedAt = openedAt
        self.deadline = deadline
        self.closedAt = closedAt
        self.resultSeq = resultSeq
        self.reason = reason
        self.parts = parts
    }
}

/// One part result seen for a join: accepted (`ok`, `failed`, `timeout`), or only recorded (`duplicate`, `late`).
/// Since schema version 5 an accepted `ok` result has no row: it is its event, named in `JoinRecord.parts`.
public struct JoinPartRecord: Equatable, Sendable {
    public var name: String
    public var correlation: String
    public var part: String
    /// The result event (0 for a part that failed by dead letter or timed out).
    public var seq: UInt64
    /// `ok`, `failed`, `timeout`, `duplicate` or `late`.
    public var status: String
    public var producer: String?
    public var attempt: Int?
    public var receivedAt: Int64
    public var error: String?

    public init(
        name: String, correlation: String, part: String, seq: UInt64, status: String, producer: String?, attempt: Int?,
        receivedAt: Int64, error: String?
    ) {
        self.name = name
        self.correlation = correlation
        self.part = part
        self.seq = seq
        self.status = status
        self.producer = producer
        self.attempt = attempt
        self.receivedAt = receivedAt
        self.error = error
    }
}

/// A stored artifact: content-addressed by SHA-256, its file under `blobs/` in the data directory.
public struct BlobRecord: Equatable, Sendable {
    public var hash: String
    public var size: Int64
    public var mediaType: String
    public var created: Int64

    public init(hash: String, size: Int64, mediaType: String, created: Int64) {
        self.hash = hash
        self.size = size
        self.mediaType = mediaType
        self.created = created
    }
}
