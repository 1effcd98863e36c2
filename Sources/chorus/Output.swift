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

    /// Writes text without a newline (terminal control sequences).
    static func raw(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
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

/// The write end of the signal pipe. Written once, before any handler is installed, then only read by the
/// handler: a signal handler can touch nothing but such a plain global (and write(2) is async-signal-safe).
nonisolated(unsafe) private var signalPipeWriteFD: Int32 = -1

extension Signals {
    /// Calls `action` on a helper thread at the first of `signals`; a second one calls `again` (if given) and
    /// exits at once (status 130).
    ///
    /// A handler that writes to a pipe works whichever thread the kernel picks to take the signal; blocking the
    /// signals instead would miss threads the runtime started before `main`.
    static func forward(_ signals: [Int32], again: (@Sendable () -> Void)? = nil, action: @escaping @Sendable () -> Void) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return }
        signalPipeWriteFD = fds[1]
        let readFD = fds[0]
        for sig in signals {
            signal(sig) { _ in
                var byte: UInt8 = 1
                _ = write(signalPipeWriteFD, &byte, 1)
            }
        }
        let thread = Thread {
            var byte: UInt8 = 0
            var seen = 0
            while true {
                let n = read(readFD, &byte, 1)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                seen += 1
                if seen == 1 {
                    action()
                } else {
                    again?()
                    exit(130)
                }
            }
        }
        thread.start()
    }

    /// Asks the broker to stop at the first signal.
    static func forward(_ signals: [Int32], to stop: StopSignal) {
        forward(signals) { stop.stop() }
    }
}
