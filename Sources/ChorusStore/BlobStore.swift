import ChorusProtocol
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Content-addressed artifact files: `DIR/ab/abcdef...` named by their SHA-256.
///
/// A blob is written to a temporary file, synced, then renamed into place and the directory synced, so a
/// blob that was acknowledged is complete on disk after a crash. The same content is stored once.
public struct BlobStore: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// The path of a blob's file.
    public func path(_ hash: String) -> String {
        "\(directory)/\(hash.prefix(2))/\(hash)"
    }

    /// Writes `content` durably and returns its SHA-256 hex digest. Existing content is not rewritten.
    public func write(_ content: [UInt8]) throws -> String {
        let hash = SHA256.hexDigest(content)
        let final = path(hash)
        if FileManager.default.fileExists(atPath: final) { return hash }
        let folder = "\(directory)/\(hash.prefix(2))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let temp = "\(folder)/.tmp-\(hash)-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw BlobError("cannot create \(temp): \(String(cString: strerror(errno)))") }
        var offset = 0
        while offset < content.count {
            let n = content[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                let message = String(cString: strerror(errno))
                close(fd)
                unlink(temp)
                throw BlobError("cannot write \(temp): \(message)")
            }
            offset += n
        }
        if fsync(fd) != 0 {
            let message = String(cString: strerror(errno))
            close(fd)
            unlink(temp)
            throw BlobError("cannot sync \(temp): \(message)")
        }
        close(fd)
        guard rename(temp, final) == 0 else {
            unlink(temp)
            throw BlobError("cannot rename \(temp): \(String(cString: strerror(errno)))")
        }
        let dirFD = open(folder, O_RDONLY)
        guard dirFD >= 0 else { throw BlobError("cannot open \(folder) to sync it") }
        defer { close(dirFD) }
        if fsync(dirFD) != 0 { throw BlobError("cannot sync \(folder): \(String(cString: strerror(errno)))") }
        return hash
    }

    /// A blob's size in bytes, or nil when absent; without reading it.
    public func size(_ hash: String) -> Int? {
        var info = stat()
        guard stat(path(hash), &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(info.st_size)
    }

    /// Reads a blob, or nil when absent.
    public func read(_ hash: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path(hash)).map { Array($0) }
    }
}

/// A blob file could not be written or read.
public struct BlobError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}
