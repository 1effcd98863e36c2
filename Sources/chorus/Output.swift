import ChorusBroker
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

/// Signal hygiene for every subcommand.
enum Signals {
    /// A process started from a thread that blocks signals (libdispatch workers do) inherits that mask, and
    /// would then ignore SIGTERM and SIGINT. Every subcommand starts by unblocking them.
    static func unblockTermination() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGHUP)
        sigaddset(&set, SIGPIPE)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}

extension Signals {
    static func block(_ signals: [Int32]) {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// A thread that waits for the (blocked) signals and asks the broker to stop; a second signal exits at once.
    static func forward(_ signals: [Int32], to stop: StopSignal) {
        let thread = Thread {
            var set = sigset_t()
            sigemptyset(&set)
            for s in signals { sigaddset(&set, s) }
            var received: Int32 = 0
            sigwait(&set, &received)
            stop.stop()
            sigwait(&set, &received)
            exit(130)
        }
        thread.start()
    }
}
