#if canImport(Glibc)
import Glibc
#endif

/// Asks a running broker to stop, from any thread or a signal handler: a self-pipe the broker polls.
public final class StopSignal: Sendable {
    let readFD: Int32
    let writeFD: Int32

    public init() {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0, "pipe() failed")
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        readFD = fds[0]
        writeFD = fds[1]
    }

    /// Requests the stop; safe to call more than once.
    public func stop() {
        var byte: UInt8 = 1
        _ = write(writeFD, &byte, 1)
    }

    /// The file descriptor to write one byte to (for a C signal handler).
    public var fileDescriptor: Int32 { writeFD }

    var isStopRequested: Bool {
        var byte: UInt8 = 0
        return read(readFD, &byte, 1) > 0
    }
}
