/// Runs a configured program as a generator: the request bytes go to its stdin, its stdout is the result.
///
/// This is how any tool becomes a Chorus generator without Swift code: a Python script around Piper or a
/// DCGAN, `polygen`, an ImageMagick pipeline. The command is an argument array run without a shell, so prompts
/// can never be interpreted as shell syntax; wrap it in `["/bin/sh", "-c", "…"]` explicitly if you want one.
///
/// ```swift
/// let upper = ExternalCommandGenerator(command: ["tr", "a-z", "A-Z"], timeout: .seconds(5))
/// try upper.generate(Array("hi".utf8))   // "HI"
/// ```
public struct ExternalCommandGenerator: Sendable {
    /// The program (a path, or a name looked up on PATH) followed by its arguments.
    public let command: [String]
    /// How long the program may run before it is killed.
    public let timeout: Duration
    /// The program's whole environment, or nil to inherit this process's environment.
    public let environment: [String: String]?

    /// A generator that runs `command`.
    ///
    /// - Precondition: `command` is not empty.
    public init(command: [String], timeout: Duration = .seconds(60), environment: [String: String]? = nil) {
        precondition(!command.isEmpty, "a command generator needs at least the program")
        self.command = command
        self.timeout = timeout
        self.environment = environment
    }

    /// Runs the command with `request` on stdin and returns everything it wrote to stdout.
    ///
    /// Blocks the calling thread until the program exits or the timeout passes; call it from a worker thread.
    ///
    /// - Throws: `GeneratorError` with code `.notInstalled` or `.launchFailed` when the program cannot start,
    ///   `.timedOut` when it was killed at the deadline, and `.commandFailed` for a non-zero exit or a signal,
    ///   with the end of its stderr in the message.
    public func generate(_ request: [UInt8]) throws -> [UInt8] {
        let result = try CommandRunner.run(command, input: request, timeout: timeout, environment: environment)
        guard result.status == 0, !result.signaled else {
            let how = result.signaled ? "was killed by signal \(result.status)" : "exited with status \(result.status)"
            let tail = result.stderrTail
            throw GeneratorError(.commandFailed, "\(command[0]) \(how)" + (tail.isEmpty ? "" : ": \(tail)"))
        }
        return result.stdout
    }
}
