import Foundation

/// What `chorus broker --ready-file PATH` writes once it listens, one line each: the main endpoint, the firehose,
/// the metrics address (empty when off) and the log file. `chorus up` and `chorus bench` read it back; the
/// line order is the contract (docs/CONFIGURATION.md).
struct ReadyFile: Equatable {
    var endpoint: String
    var firehose: String
    var metrics: String
    var log: String

    func write(to path: String) throws {
        try "\(endpoint)\n\(firehose)\n\(metrics)\n\(log)\n".write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Reads a ready file; lines a broker did not write (an older one wrote fewer) are empty.
    static func read(_ path: String) throws -> ReadyFile {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func line(_ i: Int) -> String { i < lines.count ? lines[i] : "" }
        return ReadyFile(endpoint: line(0), firehose: line(1), metrics: line(2), log: line(3))
    }
}
