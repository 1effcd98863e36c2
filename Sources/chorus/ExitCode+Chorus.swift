import ArgumentParser
import Foundation
import ChorusClient

/// Exit statuses of the subcommands (each one's `--help` lists those it uses); numbers follow BSD sysexits.h.
enum ChorusExit {
    /// The broker refused the request (invalid topic, payload too large, stale lease...).
    static let refused = ExitCode(65)
    /// No broker answered at the endpoint within the timeout (clients); `chorus up` gave up on its broker.
    static let unavailable = ExitCode(69)
    /// Reading a file or standard input failed.
    static let ioError = ExitCode(74)
    /// The broker could not write its log and stopped; restart it.
    static let storageFailed = ExitCode(75)
    /// The configuration file is wrong.
    static let configError = ExitCode(78)
}

/// Prints a client error the way people should read it, and exits with its status.
func fail(_ error: any Error) -> ExitCode {
    let message: String
    let code: ExitCode
    switch error {
    case let e as ChorusClientError:
        message = e.description
        switch e {
        case .noAnswer: code = ChorusExit.unavailable
        case .refused: code = ChorusExit.refused
        default: code = ExitCode.failure
        }
    default:
        message = "\(error)"
        code = ExitCode.failure
    }
    printError("chorus: \(message)")
    return code
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
