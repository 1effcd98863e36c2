import ChorusProtocol

/// An event with its sequence number assigned, as the broker holds it in memory and hands it to the store.
///
/// A class so that the write batch, the in-memory window, group lookahead and deliveries share one copy: an
/// `Event` holds eight reference-counted fields, and copying one into each of those places cost a retain and a
/// release of every field per event. Immutable, so the commit thread reads it while the broker thread does.
public final class LogEntry: Sendable {
    public let event: Event
    /// The topic's bytes, for pattern matching and for frames.
    public let topic: [UInt8]

    /// The payload's size in bytes. Stored: computed through `event`, this one-line getter was a percent of the
    /// broker thread by itself (it is read for the recent window's bytes, the merged record, the in-flight limits).
    public let payloadCount: Int

    /// `topic` saves a copy when the caller already holds the topic's bytes.
    public init(_ event: Event, topic: [UInt8]? = nil) {
        self.event = event
        self.topic = topic ?? Array(event.topic.utf8)
        payloadCount = event.payload.count
    }

    public var seq: UInt64 { event.seq }

    /// The properties frame, encoded now, for the firehose (deliveries write it straight into the outbox instead:
    /// holding it per event cost an allocation and memory for every event in the recent window). A method of the
    /// entry, like `appendPackedDelivery`, so that the event is read in place rather than copied out.
    public func encodeProperties() -> [UInt8] { event.encodeProperties() }

    /// Appends this event as one packed delivery entry (docs/PROTOCOL.md, section 7.17), reading the event in
    /// place: read out of the entry at the caller, Swift copied it (eight reference-counted fields) per delivery.
    public func appendPackedDelivery(token: UInt64, attempt: UInt32, to out: inout [UInt8]) {
        Packed.appendDelivery(seq: event.seq, token: token, attempt: attempt, topic: topic, event: event, to: &out)
    }
}
