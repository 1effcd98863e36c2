import ChorusClient
import ChorusProtocol
import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

#if canImport(Glibc)
import Glibc
#endif

/// Milliseconds since the epoch.
func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

/// Polls `condition` until it holds or `timeout` seconds pass; returns whether it held. Never a bare sleep.
@discardableResult
func waitUntil(_ timeout: Double, pollMilliseconds: UInt32 = 20, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(pollMilliseconds * 1000)
    }
    return try condition()
}

/// The `chorus` executable built beside the test bundle (or $CHORUS_BIN).
func chorusExecutable() -> String {
    if let bin = ProcessInfo.processInfo.environment["CHORUS_BIN"] { return bin }
    let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var dir = testBinary.deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent("chorus").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/chorus").path
}

/// A temporary directory removed when the value is dropped... explicitly, with `remove()`.
struct TempDir {
    let path: String
    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("chorus-test-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

/// A child process with its output captured to files.
final class ChildProcess {
    let process = Process()
    let stdoutPath: String
    let stderrPath: String

    init(_ arguments: [String], directory: TempDir, label: String, environment: [String: String] = [:], stdin: FileHandle? = nil) throws {
        stdoutPath = directory.file("\(label).out")
        stderrPath = directory.file("\(label).err")
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: chorusExecutable())
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory.path)
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        if let stdin { process.standardInput = stdin }
        try process.run()
    }

    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
    var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }

    func kill9() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    func terminate() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    /// Waits for exit up to `timeout` seconds; returns the status, or nil if still running.
    func waitForExit(_ timeout: Double) -> Int32? {
        waitUntil(timeout) { !process.isRunning } ? process.terminationStatus : nil
    }
}

/// A broker process on loopback with its own data directory.
final class BrokerProcess {
    /// The heartbeat the tests' brokers run with: a silent client is dropped after interval x misses.
    static let heartbeatMilliseconds = 300
    static let heartbeatMisses = 5
    let directory: TempDir
    let configText: String
    private(set) var child: ChildProcess?
    private(set) var endpoint = ""
    private(set) var firehose = ""
    /// The metrics endpoint (`tcp://127.0.0.1:PORT`), when the config turns it on.
    private(set) var metrics = ""
    private var starts = 0

    /// `config` is TOML appended to a test config with short heartbeats.
    init(config: String = "", directory: TempDir = TempDir()) throws {
        self.directory = directory
        configText = """
            [broker]
            data_dir = "data"
            log_level = "info"
            [delivery]
            heartbeat = "\(Self.heartbeatMilliseconds)ms"
            heartbeat_misses = \(Self.heartbeatMisses)

            """ + config
        try configText.write(toFile: directory.file("broker.toml"), atomically: true, encoding: .utf8)
        try start()
    }

    /// Starts (or restarts, on the same ports and data) the broker and waits until it listens.
    func start() throws {
        starts += 1
        let ready = directory.file("ready-\(starts)")
        let ep = endpoint.isEmpty ? "tcp://127.0.0.1:*" : endpoint
        let fh = firehose.isEmpty ? "tcp://127.0.0.1:*" : firehose
        let c = try ChildProcess(
            ["broker", "--config", "broker.toml", "--endpoint", ep, "--firehose", fh, "--ready-file", ready],
            directory: directory, label: "broker-\(starts)")
        child = c
        let up = waitUntil(20) { FileManager.default.fileExists(atPath: ready) || !c.process.isRunning }
        guard up, c.process.isRunning, let text = try? String(contentsOfFile: ready, encoding: .utf8) else {
            throw TestFailure("broker did not start: \(c.stderr)")
        }
        let lines = text.split(separator: "\n").map(String.init)
        endpoint = lines[0]
        firehose = lines[1]
        metrics = lines.count > 2 ? lines[2] : ""
    }

    func kill9() { child?.kill9() }

    func stop() {
        child?.terminate()
        directory.remove()
    }

    func connect(name: String? = nil) throws -> BrokerConnection {
        let c = try BrokerConnection(endpoint: endpoint)
        if let name { try c.hello(name: name) }
        return c
    }

    /// Runs a chorus client subcommand against this broker, with `environment` added to the test's own.
    func client(_ arguments: [String], label: String, environment: [String: String] = [:], stdin: FileHandle? = nil) throws -> ChildProcess {
        try ChildProcess(arguments + ["--endpoint", endpoint], directory: directory, label: label, environment: environment, stdin: stdin)
    }

    /// Runs `chorus publish TOPIC --lines EXTRA...` with `text` as its standard input, written to `LABEL.txt` in
    /// the broker's directory. The file is opened before the child starts: if it cannot be, the test fails here
    /// rather than the child reading the test's own standard input.
    func publishLines(_ text: String, topic: String, extra: [String] = [], label: String) throws -> ChildProcess {
        let input = directory.file("\(label).txt")
        try text.write(toFile: input, atomically: true, encoding: .utf8)
        let stdin = try #require(FileHandle(forReadingAtPath: input), "cannot read \(input)")
        return try client(["publish", topic, "--lines"] + extra, label: label, stdin: stdin)
    }

    var stderr: String { child?.stderr ?? "" }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

extension BrokerConnection {
    /// Receives deliveries until `count` arrived or `timeout` seconds passed.
    func deliveries(_ count: Int, within timeout: Double) throws -> [Delivery] {
        var out: [Delivery] = []
        let deadline = nowMs() + Int64(timeout * 1000)
        while out.count < count, nowMs() < deadline {
            if case .deliver(let d)? = try receive(timeoutMilliseconds: Int(max(1, deadline - nowMs()))) { out.append(d) }
        }
        return out
    }

    /// Receives for `seconds` and returns every delivery (used to prove that nothing more arrives).
    func drain(for seconds: Double) throws -> [Delivery] {
        var out: [Delivery] = []
        let deadline = nowMs() + Int64(seconds * 1000)
        while nowMs() < deadline {
            if case .deliver(let d)? = try receive(timeoutMilliseconds: Int(max(1, deadline - nowMs()))) { out.append(d) }
        }
        return out
    }
}

/// The body of a 200 answer to GET `url`, or nil (no server, an error status, or no answer within `timeout`).
func httpGet(_ url: String, timeout: Double) -> String? {
    guard let u = URL(string: url) else { return nil }
    var request = URLRequest(url: u)
    request.timeoutInterval = timeout
    let result = HTTPBodyBox()
    let done = DispatchSemaphore(value: 0)
    let task = URLSession.shared.dataTask(with: request) { data, response, _ in
        if (response as? HTTPURLResponse)?.statusCode == 200, let data { result.set(String(decoding: data, as: UTF8.self)) }
        done.signal()
    }
    task.resume()
    if done.wait(timeout: .now() + timeout + 1) == .timedOut {
        task.cancel()
        return nil
    }
    return result.get()
}

private final class HTTPBodyBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: String?
    func set(_ v: String) { lock.lock(); value = v; lock.unlock() }
    func get() -> String? { lock.lock(); defer { lock.unlock() }; return value }
}
