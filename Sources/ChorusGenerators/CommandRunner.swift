import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// DESIGN
//
// Runs one program to completion with a deadline, for the command and speech generators.
//
// - posix_spawn, not Foundation's Process. On Linux, Process passes the calling thread's signal mask to the
//   child (swift-corelibs-foundation #4772). Generators run on Dispatch or Swift concurrency threads, which
//   block almost every signal, so the child would start with SIGTERM and SIGINT blocked and SIGPIPE ignored:
//   `timeout 10 python3 gen.py` would never time out and a script's `trap … TERM` would never run. We pass
//   POSIX_SPAWN_SETSIGMASK with an empty mask and POSIX_SPAWN_SETSIGDEF with every signal, so the program
//   starts with the signal state it would have from a shell.
// - stdin, stdout and stderr are temporary files, not pipes. With pipes we would need reader threads so that a
//   child filling a 64 KiB pipe buffer does not block forever while we wait for it, and a grandchild that
//   inherits the pipe would keep our reads open after a kill. Files avoid both and cost little for the sizes
//   generators produce.
// - The child leads a new process group (POSIX_SPAWN_SETPGROUP), so on timeout one SIGKILL to the group also
//   ends what it started (`sh -c 'sleep 9'` takes its `sleep` with it).
// - A dedicated thread blocks in waitpid and signals a semaphore; the caller waits on that with the deadline.
// - No shell is involved: arguments go to the program exactly as given.

/// What a finished program left behind.
struct CommandResult: Sendable {
    /// Exit status, or the signal number when `signaled`.
    var status: Int32
    /// Whether the program was ended by a signal rather than exiting.
    var signaled: Bool
    var stdout: [UInt8]
    var stderr: [UInt8]

    /// The end of stderr for error messages: enough to show the cause, never megabytes.
    var stderrTail: String {
        String(decoding: stderr.suffix(2048), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Starts programs without a shell and waits for them with a timeout.
public enum CommandRunner {
    /// Runs `arguments[0]` (a path, or a name looked up on PATH) with the rest as its arguments, `input` on
    /// stdin, and returns its exit status and output. A non-zero exit is returned, not thrown.
    ///
    /// - Throws: `GeneratorError` `.notInstalled` when the program is not found, `.launchFailed` when it cannot
    ///   start, `.timedOut` after killing it at the deadline, `.io` when temporary files fail.
    static func run(
        _ arguments: [String], input: [UInt8] = [], timeout: Duration, environment: [String: String]? = nil
    ) throws -> CommandResult {
        precondition(!arguments.isEmpty, "a command needs at least the program")
        guard let executable = resolve(arguments[0]) else {
            throw GeneratorError(.notInstalled, "command not found: \(arguments[0])")
        }
        let files = FileManager.default
        let base = files.temporaryDirectory.appendingPathComponent("chorus-gen-\(UUID().uuidString)").path
        let inPath = base + ".in"
        let outPath = base + ".out"
        let errPath = base + ".err"
        defer {
            for path in [inPath, outPath, errPath] { try? files.removeItem(atPath: path) }
        }
        guard files.createFile(atPath: inPath, contents: Data(input)) else {
            throw GeneratorError(.io, "cannot write \(inPath)")
        }
        // O_CLOEXEC: the descriptors reach the child only through the dup2 actions onto 0, 1 and 2.
        let inFD = open(inPath, O_RDONLY | O_CLOEXEC)
        let outFD = open(outPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let errFD = open(errPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer {
            for fd in [inFD, outFD, errFD] where fd >= 0 { close(fd) }
        }
        guard inFD >= 0, outFD >= 0, errFD >= 0 else {
            throw GeneratorError(.io, "cannot open temporary files at \(base).*: \(String(cString: strerror(errno)))")
        }

        let pid = try spawn(
            executable, arguments, environment ?? ProcessInfo.processInfo.environment, inFD, outFD, errFD)
        let status = Locked<Int32>(0)
        let exited = DispatchSemaphore(value: 0)
        // A thread of its own rather than a Dispatch worker: it may block for the whole timeout.
        Thread {
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) == -1 && errno == EINTR {}
            status.value = raw
            exited.signal()
        }.start()

        if exited.wait(timeout: .now() + timeout.timeInterval) == .timedOut {
            kill(-pid, SIGKILL)
            exited.wait()  // the waiter reaps the child, so no zombie is left behind
            throw GeneratorError(
                .timedOut, "\(arguments[0]) did not finish within \(timeout.timeInterval) s and was killed")
        }
        let raw = status.value
        // The wait status encoding shared by Linux and Darwin (the W* macros are not visible to Swift):
        // low 7 bits are the terminating signal, or 0 for a normal exit with the code in bits 8–15.
        let signal = raw & 0x7F
        let output = (try? Data(contentsOf: URL(fileURLWithPath: outPath))) ?? Data()
        let errors = (try? Data(contentsOf: URL(fileURLWithPath: errPath))) ?? Data()
        return CommandResult(
            status: signal == 0 ? (raw >> 8) & 0xFF : signal, signaled: signal != 0,
            stdout: [UInt8](output), stderr: [UInt8](errors))
    }

    /// posix_spawn with the three descriptors as stdio, a new process group and a clean signal state.
    private static func spawn(
        _ executable: String, _ arguments: [String], _ environment: [String: String], _ inFD: Int32, _ outFD: Int32,
        _ errFD: Int32
    ) throws -> pid_t {
        #if canImport(Darwin)
            var actions: posix_spawn_file_actions_t? = nil
            var attributes: posix_spawnattr_t? = nil
        #else
            var actions = posix_spawn_file_actions_t()
            var attributes = posix_spawnattr_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        posix_spawn_file_actions_adddup2(&actions, inFD, 0)
        posix_spawn_file_actions_adddup2(&actions, outFD, 1)
        posix_spawn_file_actions_adddup2(&actions, errFD, 2)
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        let flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv + envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard rc == 0 else {
            throw GeneratorError(.launchFailed, "cannot start \(executable): \(String(cString: strerror(rc)))")
        }
        return pid
    }

    /// What execvp searches when PATH is not set.
    public static let defaultPath = "/usr/local/bin:/usr/bin:/bin"

    /// The file a shell would run for `program`, or nil: a name with a `/` is a path (relative to the current
    /// folder); a bare name is the first executable regular file of that name in the PATH folders (an empty
    /// entry is the current folder). Directories and non-executable files do not count.
    public static func resolve(_ program: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
        func runnable(_ candidate: String) -> Bool {
            var info = stat()
            return stat(candidate, &info) == 0 && info.st_mode & S_IFMT == S_IFREG && access(candidate, X_OK) == 0
        }
        if program.contains("/") { return runnable(program) ? program : nil }
        for folder in (path ?? defaultPath).split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (folder.isEmpty ? "." : String(folder)) + "/" + program
            if runnable(candidate) { return candidate }
        }
        return nil
    }
}

extension Duration {
    /// The duration in seconds, for Foundation and Dispatch APIs that take `TimeInterval`.
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) * 1e-18
    }
}
