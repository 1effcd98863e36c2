#if canImport(Glibc)
import Glibc
#endif

/// A self-pipe: other threads write a byte to wake the thread that polls it (and owns the ZeroMQ socket).
public final class WakePipe: Sendable {
    /// The end to poll (`ZMQPoller.add(.fd(readFD))`).
    public let readFD: Int32
    let writeFD: Int32

    public init() {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0, "pipe() failed")
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        readFD = fds[0]
        writeFD = fds[1]
    }

    deinit {
        close(readFD)
        close(writeFD)
    }

    /// Wakes the polling thread; safe from any thread, and from a signal handler.
    public func wake() {
        var byte: UInt8 = 1
        _ = write(writeFD, &byte, 1)
    }

    /// Empties the pipe; returns whether anything was in it.
    @discardableResult
    public func drain() -> Bool {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buffer in
            var any = false
            while read(readFD, buffer.baseAddress, 64) > 0 { any = true }
            return any
        }
    }
}

