import ArgumentParser
import ChorusClient
import Foundation

struct BlobCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blob",
        abstract: "Fetch or store artifacts in the broker's content-addressed blob store.",
        subcommands: [Get.self, Put.self]
    )

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch a blob by its SHA-256 and write it to a file or standard output.",
            discussion: "Exit codes: 0 written, 65 no such blob, 69 no broker, 74 cannot write the file.")

        @Argument(help: "The blob's SHA-256 (64 hex digits), as in a result's h.blob header or a merged record.")
        var hash: String

        @Option(name: .shortAndLong, help: "Write to this file instead of standard output.")
        var output: String?

        @OptionGroup var client: ClientOptions

        func run() throws {
            Signals.unblockTermination()
            try client.withConnection { c in
                let (type, content) = try c.getBlob(hash.lowercased(), timeoutMilliseconds: max(client.timeoutMilliseconds, 30_000))
                if let output {
                    guard FileManager.default.createFile(atPath: output, contents: Data(content)) else {
                        printError("chorus blob get: cannot write \(output)")
                        throw ChorusExit.ioError
                    }
                    printError("\(output): \(content.count) bytes, \(type)")
                } else {
                    FileHandle.standardOutput.write(Data(content))
                }
            }
        }
    }

    struct Put: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store a file as a blob and print its SHA-256.",
            discussion: """
                Storing the same content twice stores it once and returns the same hash. An event refers to the \
                blob with the header h.blob=HASH, which keeps it from retention while the event lives.

                Exit codes: 0 stored, 65 refused by the broker (e.g. over its blob size limit), 69 no broker, 74 \
                cannot read the file.
                """)

        @Argument(help: "The file to store.")
        var file: String

        @Option(name: .long, help: "Media type recorded with the blob.")
        var type = "application/octet-stream"

        @OptionGroup var client: ClientOptions

        func run() throws {
            Signals.unblockTermination()
            guard let data = FileManager.default.contents(atPath: file) else {
                printError("chorus blob put: cannot read \(file)")
                throw ChorusExit.ioError
            }
            try client.withConnection { c in
                Output.line(try c.putBlob(Array(data), mediaType: type, timeoutMilliseconds: max(client.timeoutMilliseconds, 30_000)))
            }
        }
    }
}
