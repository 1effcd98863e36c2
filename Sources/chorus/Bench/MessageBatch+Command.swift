import ChorusProtocol
import ZeroMQ

extension MessageBatch {
    /// Makes this batch hold one client command, the signature and `name` then `frames`, to send with
    /// `BrokerConnection.sendRaw(0, of:)`: the lean bench clients' way to send without an array per frame.
    mutating func setCommand(_ name: [UInt8], _ frames: [[UInt8]]) {
        removeAll()
        appendFrame(ProtocolVersion.signature)
        appendFrame(name)
        for frame in frames { appendFrame(frame) }
        endMessage()
    }
}
