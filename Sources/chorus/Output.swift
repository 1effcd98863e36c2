import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes lines to standard output at once (no buffering), so a reader sees each event as it arrives.
/// A closed pipe (`chorus subscribe | head -1`) ends the program quietly with status 0.
enum Output {
    static func line(_ text: String) {
        var bytes = Array(text.utf8)
        bytes.append(0x0A)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                exit(0)  // EPIPE or a closed descriptor: the reader is gone
            }
            offset += n
        }
    }

    /// Makes a closed pipe an error from write() instead of a fatal signal.
    static func ignoreBrokenPipe() { signal(SIGPIPE, SIG_IGN) }
}
