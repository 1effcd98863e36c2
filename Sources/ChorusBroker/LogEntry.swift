import ChorusProtocol

/// A committed (or about to be committed) event as the broker holds it in memory.
///
/// A class so that the in-memory window, the batch, group lookahead and deliveries share one copy, and so the
/// topic's bytes are made once however many groups receive it.
final class LogEntry {
    let event: Event
    /// The topic's bytes, for pattern matching and for frames.
    let topic: [UInt8]
    /// `topic` saves a copy when the caller already holds the topic's bytes.
    init(_ event: Event, topic: [UInt8]? = nil) {
        self.event = event
        self.topic = topic ?? Array(event.topic.utf8)
    }

    var seq: UInt64 { event.seq }

    /// The properties frame (deliveries write it straight into the outbox instead: holding it per event cost an
    /// allocation and memory for every event in the recent window).
    var properties: [UInt8] { event.encodeProperties() }
}
