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
// - stdin, stdout and stderr are temporary files, not pipes. With pipes we would need reader threads so that a
//   child filling a 64 KiB pipe buffer does not block forever while we wait for it to exit, and a grandchild
//   that inherits the pipe would keep our reads open after a kill. Files avoid both, cost little for the sizes
//   generators produce, and keep this synchronous code free of shared mutable state.
// - The deadline is a semaphore signalled by `terminationHandler`. On expiry we SIGKILL the child's process
//   group: swift-corelibs-foundation starts each child in a group of its own (pgid == pid), so `sh -c 'sleep 9'`
//   takes its `sleep` with it. Where that does not hold (Darwin), only the child itself is killed.
// - No shell is involved: arguments go to the program exactly as given.

/// What a finished program left behind.
struct CommandResult: Sendable {
    /// Exit status, or the signal number when `signaled`.
    var status: Int32
    /// Whether the program was ended by a signal rather than exiting.
    var signaled: Bool
    var stdout: [UInt8]
    var stderr: [UInt8]

    /// The last few lines of stderr for error messages: enough to show the cause, never megabytes.
    var stderrTail: String {
        let tail = String(decoding: stderr.suffix(2048), as: UTF8.self)
        return tail.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Starts programs without a shell and waits for them with a timeout.
enum CommandRunner {
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
        let inPath = base + ".in", outPath = base + ".out", errPath = base + ".err"
        defer {
            for path in [inPath, outPath, errPath] { try? files.removeItem(atPath: path) }
        }
        guard files.createFile(atPath: inPath, contents: Data(input)),
            files.createFile(atPath: outPath, contents: nil),
            files.createFile(atPath: errPath, contents: nil),
            let stdin = FileHandle(forReadingAtPath: inPath),
            let stdout = FileHandle(forWritingAtPath: outPath),
            let stderr = FileHandle(forWritingAtPath: errPath)
        else { throw GeneratorError(.io, "cannot create temporary files at \(base).*") }
        defer {
            for handle in [stdin, stdout, stderr] { try? handle.close() }
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(arguments.dropFirst())
        if let environment { process.environment = environment }
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        do {
            try process.run()
        } catch {
            throw GeneratorError(.launchFailed, "cannot start \(executable): \(error.localizedDescription)")
        }

        if exited.wait(timeout: .now() + timeout.timeInterval) == .timedOut {
            let pid = process.processIdentifier
            kill(getpgid(pid) == pid ? -pid : pid, SIGKILL)
            exited.wait()
            throw GeneratorError(.timedOut, "\(arguments[0]) did not finish within \(timeout.timeInterval) s and was killed")
        }
        let output = (try? Data(contentsOf: URL(fileURLWithPath: outPath))) ?? Data()
        let errors = (try? Data(contentsOf: URL(fileURLWithPath: errPath))) ?? Data()
        return CommandResult(
            status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
            stdout: [UInt8](output), stderr: [UInt8](errors))
    }

    /// The path of an executable: `name` itself when it contains a slash, else the first match on PATH.
    static func resolve(_ name: String) -> String? {
        let files = FileManager.default
        if name.contains("/") { return files.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(name)"
            if files.isExecutableFile(atPath: candidate) { return candidate }
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
