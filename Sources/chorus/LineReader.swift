import Foundation

/// Lines of a file descriptor, handed out as many at a time as have already arrived.
///
/// `readLine` gives one line per call and blocks for the next, so a reader cannot tell "more lines are waiting"
/// from "the writer is thinking". This one reads whatever the descriptor has (up to 64 KiB at a time) and
/// returns every complete line it holds: a pipe full of lines comes back in large groups, a person typing
/// gets each line at once.
struct LineReader {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    /// Where to look for the next newline: everything from `start` up to here has none.
    private var scanned = 0
    private var atEnd = false
    private var chunk = [UInt8](repeating: 0, count: 64 * 1024)

    init(fd: Int32) { self.fd = fd }

    /// Up to `limit` lines (without their `\n` or `\r\n`), waiting only when none has arrived yet; nil at the
    /// end of input. A last line without a newline counts.
    mutating func nextLines(limit: Int) throws -> [[UInt8]]? {
        var lines: [[UInt8]] = []
        while true {
            while lines.count < limit, let newline = buffer[max(start, scanned)...].firstIndex(of: 0x0A) {
                var end = newline
                if end > start && buffer[end - 1] == 0x0D { end -= 1 }
                lines.append(Array(buffer[start..<end]))
                start = newline + 1
            }
            scanned = lines.count < limit ? buffer.count : start
            if !lines.isEmpty { return lines }
            if atEnd {
                guard start < buffer.count else { return nil }
                let last = Array(buffer[start...])
                start = buffer.count
                return [last]
            }
            try fill()
        }
    }

    private mutating func fill() throws {
        if start > 0 {
            // A long line is not scanned again from its start after each read (that would be quadratic).
            buffer.removeFirst(start)
            scanned -= start
            start = 0
        }
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                buffer.append(contentsOf: chunk[..<n])
                return
            }
            if n == 0 {
                atEnd = true
                return
            }
            if errno == EINTR { continue }
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
    }
}
