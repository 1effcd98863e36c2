/// Many multipart messages waiting to be sent, held in one byte buffer.
///
/// The broker queues every reply and delivery of a loop iteration until the commit that covers them, then sends
/// them all. Held as `Frames` (an array per frame) that cost an allocation per frame to build and a free per
/// frame to drop, a visible share of the broker's time per event. Here a frame is a range of one buffer that
/// keeps its capacity from batch to batch, so queuing a message allocates nothing once the buffer has grown.
public struct MessageBatch {
    /// Above this many bytes of capacity, `removeAll` gives the buffer back instead of keeping it: one large
    /// message (a blob) must not pin its size in memory for the life of the process.
    public static let retainedCapacity = 4 << 20

    // Inlinable into the broker: frames are appended a dozen times per event.
    @usableFromInline var bytes: [UInt8] = []
    /// Where each frame ends in `bytes`.
    @usableFromInline var frameEnds: [Int] = []
    /// Where each message ends in `frameEnds` (one past its last frame).
    @usableFromInline var messageEnds: [Int] = []

    public init() {}

    /// The number of complete messages.
    public var count: Int { messageEnds.count }

    /// Whether it holds no complete message.
    public var isEmpty: Bool { messageEnds.isEmpty }

    /// The bytes held, frames of an unfinished message included.
    public var byteCount: Int { bytes.count }

    /// The bytes the buffer can hold before it grows again.
    public var byteCapacity: Int { bytes.capacity }

    /// The number of frames of message `message`.
    public func frameCount(of message: Int) -> Int {
        messageEnds[message] - (message == 0 ? 0 : messageEnds[message - 1])
    }

    /// The bytes of message `message`'s frames, together.
    public func byteCount(of message: Int) -> Int {
        let first = message == 0 ? 0 : messageEnds[message - 1]
        return frameEnds[messageEnds[message] - 1] - frameStart(first)
    }

    /// A copy of frame `frame` of message `message`.
    public func frame(_ frame: Int, of message: Int) -> [UInt8] {
        let index = (message == 0 ? 0 : messageEnds[message - 1]) + frame
        precondition(index < messageEnds[message], "frame \(frame) is past the end of message \(message)")
        return Array(bytes[frameStart(index)..<frameEnds[index]])
    }

    /// Every message as `Frames` (for tests and logs; the send path does not copy).
    public var messages: [Frames] {
        (0..<count).map { m in (0..<frameCount(of: m)).map { frame($0, of: m) } }
    }

    private func frameStart(_ index: Int) -> Int { index == 0 ? 0 : frameEnds[index - 1] }

    // MARK: Building

    /// Appends a frame to the message being built.
    @inlinable
    public mutating func appendFrame(_ frame: [UInt8]) {
        bytes.append(contentsOf: frame)
        frameEnds.append(bytes.count)
    }

    /// Appends a frame whose bytes `body` writes at the end of the buffer it is given (a number, say, encoded in
    /// place instead of into an array of its own). `body` must only append.
    @inlinable
    public mutating func appendFrame(writing body: (inout [UInt8]) -> Void) {
        body(&bytes)
        frameEnds.append(bytes.count)
    }

    /// Appends a frame copied from `frame` (a received frame, read in place).
    @inlinable
    public mutating func appendFrame(bytes frame: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: frame)
        frameEnds.append(bytes.count)
    }

    /// Drops the frames appended since the last `endMessage` (a message whose reading failed part way).
    public mutating func discardUnfinished() {
        let kept = messageEnds.last ?? 0
        frameEnds.removeSubrange(kept...)
        bytes.removeSubrange((kept == 0 ? 0 : frameEnds[kept - 1])...)
    }

    /// The bytes of frame `frame` of message `message`, in place (a slice shares the buffer; nothing is copied).
    public func frameBytes(_ frame: Int, of message: Int) -> ArraySlice<UInt8> {
        let index = (message == 0 ? 0 : messageEnds[message - 1]) + frame
        precondition(index < messageEnds[message], "frame \(frame) is past the end of message \(message)")
        return bytes[frameStart(index)..<frameEnds[index]]
    }

    /// Ends the message being built; the frames appended since the last `endMessage` are its frames.
    @inlinable
    public mutating func endMessage() {
        precondition(frameEnds.count > (messageEnds.last ?? 0), "a message needs at least one frame")
        messageEnds.append(frameEnds.count)
    }

    /// Appends a whole message.
    public mutating func append(_ frames: Frames) {
        for frame in frames { appendFrame(frame) }
        endMessage()
    }

    /// Empties it, keeping the storage unless it has grown past `retainedCapacity`.
    public mutating func removeAll() {
        let keep = bytes.capacity <= Self.retainedCapacity
        bytes.removeAll(keepingCapacity: keep)
        frameEnds.removeAll(keepingCapacity: true)
        messageEnds.removeAll(keepingCapacity: true)
    }

    /// The bytes of each frame of message `message`, and whether more frames follow it.
    func forEachFrame(of message: Int, _ body: (UnsafeRawBufferPointer, _ more: Bool) throws -> Bool) rethrows -> Bool {
        let first = message == 0 ? 0 : messageEnds[message - 1]
        let end = messageEnds[message]
        return try bytes.withUnsafeBytes { all in
            for index in first..<end {
                let start = frameStart(index)
                let frame = UnsafeRawBufferPointer(rebasing: all[start..<frameEnds[index]])
                guard try body(frame, index + 1 < end) else { return false }
            }
            return true
        }
    }
}
