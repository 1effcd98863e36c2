import ChorusProtocol
import Foundation
import Synchronization

/// Set when a job should stop early: the agent is stopping, or the event's deadline passed.
public final class CancellationFlag: Sendable {
    private let flag = Mutex(false)
    public init() {}
    public var isCancelled: Bool { flag.withLock { $0 } }
    public func cancel() { flag.withLock { $0 = true } }
}

/// One delivery for a handler to work on.
public struct AgentJob: Sendable {
    public let event: Event
    public let attempt: UInt32
    public let group: String
    public let cancellation: CancellationFlag

    /// The text to work from: the payload's `prompt` (or `text`) field when it is a JSON object, else the
    /// payload as UTF-8 text.
    public var prompt: String {
        if let object = try? JSONSerialization.jsonObject(with: Data(event.payload)) as? [String: Any] {
            if let p = object["prompt"] as? String { return p }
            if let t = object["text"] as? String { return t }
        }
        return String(decoding: event.payload, as: UTF8.self)
    }
}

/// What a handler produced: the result's payload and media type, plus headers to add.
public struct AgentOutput: Sendable {
    public var payload: [UInt8]
    public var contentType: String
    public var headers: [String: String]

    public init(payload: [UInt8], contentType: String, headers: [String: String] = [:]) {
        self.payload = payload
        self.contentType = contentType
        self.headers = headers
    }

    /// Text and JSON stay inline; other media may go to the blob store.
    var isBinary: Bool { !(contentType.hasPrefix("text/") || contentType.contains("json")) }
}

/// How a handler fails.
public enum AgentFailure: Error, Sendable {
    /// Worth another attempt (NACK with a delay): a busy GPU, a timeout talking to a model server.
    case retryable(String)
    /// Will not get better: the result is published with `status=error` and the delivery acked.
    case permanent(String)
}

/// A handler runs on a worker thread, one job at a time per worker.
public typealias AgentHandler = @Sendable (AgentJob) throws -> AgentOutput
