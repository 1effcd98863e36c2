import ChorusProtocol

/// Why a client call failed.
public enum ChorusClientError: Error, CustomStringConvertible, Sendable {
    /// No answer within the timeout: the broker is not running, not reachable, or overloaded.
    case noAnswer(endpoint: String, waitedMilliseconds: Int)
    /// The broker refused the command.
    case refused(code: ErrorCode, message: String)
    /// The broker answered something this client did not expect.
    case unexpected(String)
    /// A ZeroMQ error (bad endpoint, say).
    case transport(String)

    public var description: String {
        switch self {
        case .noAnswer(let endpoint, let ms):
            "no answer from the broker at \(endpoint) within \(Double(ms) / 1000) s: is it running? (start one with 'chorus broker')"
        case .refused(let code, let message): "refused: \(code.name) (\(code.number)): \(message)"
        case .unexpected(let what): "unexpected reply from the broker: \(what)"
        case .transport(let what): "transport error: \(what)"
        }
    }
}
