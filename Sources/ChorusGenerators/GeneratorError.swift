/// A generator could not produce its output: a tool is missing, a command failed or timed out, a server refused,
/// or bytes that should have been a WAV file were not.
///
/// `code` says what kind of failure it was, for callers that react differently (retry a timeout, give up on a
/// missing tool); `message` is written for people and is what `description` shows.
public struct GeneratorError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The kind of failure. A struct over a string rather than an enum, so codes can be added without breaking
    /// callers that switch over them.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A stable, lowercase name such as `timed-out`.
        public let name: String

        init(_ name: String) { self.name = name }

        /// A program the generator needs is not installed or not on PATH.
        public static let notInstalled = Code("not-installed")
        /// A program was found but could not be started.
        public static let launchFailed = Code("launch-failed")
        /// A program ran past its timeout and was killed.
        public static let timedOut = Code("timed-out")
        /// A program exited with a non-zero status or died from a signal.
        public static let commandFailed = Code("command-failed")
        /// Nothing listens at the configured server address.
        public static let noServer = Code("no-server")
        /// The server answered with an HTTP status other than 200.
        public static let httpStatus = Code("http-status")
        /// The server or program answered, but not with what the protocol promises.
        public static let badResponse = Code("bad-response")
        /// Bytes are not a well-formed RIFF/WAVE file.
        public static let invalidWAV = Code("invalid-wav")
        /// A temporary file could not be written or read.
        public static let io = Code("io")

        /// The code's name.
        public var description: String { name }
    }

    /// What kind of failure this is.
    public let code: Code
    /// A sentence for people, naming the program, URL or field involved.
    public let message: String

    /// Creates an error with a code and a message for people.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message for people.
    public var description: String { message }
}
