import Foundation
import ZeroMQ

/// The Prometheus scrape endpoint: a tiny HTTP/1.1 responder on a ZeroMQ STREAM socket owned by the broker
/// thread, so metrics are read from the broker's own state with no locks and no HTTP framework.
///
/// It answers `GET /metrics` (and `GET /`) with the text exposition format and closes the connection; anything
/// else gets 404, and a request head above 8 KiB or malformed gets 400. Connections are bounded (64).
final class MetricsEndpoint {
    let socket: ZMQSocket
    let address: String
    private var partial: [[UInt8]: [UInt8]] = [:]

    init(address: String) throws {
        socket = try ZMQSocket(.stream)
        let endpoint = address.hasPrefix("tcp://") ? address : "tcp://\(address)"
        try socket.bind(endpoint)
        self.address = socket.lastEndpoint
    }

    /// Reads what arrived; for each complete request, calls `render` and answers.
    func serve(render: () -> String) {
        while let frames = try? socket.receive(dontWait: true), frames.count == 2 {
            let id = frames[0]
            let data = frames[1]
            if data.isEmpty {  // connect or disconnect notification
                partial[id] = nil
                continue
            }
            var head = (partial[id] ?? []) + data
            guard let end = Self.headEnd(head) else {
                if head.count > 8192 || partial.count >= 64 {
                    respond(id, status: "400 Bad Request", body: "request head too large\n")
                } else {
                    partial[id] = head
                }
                continue
            }
            head = Array(head[..<end])
            partial[id] = nil
            let line = String(decoding: head.prefix { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self).split(separator: " ")
            if line.count >= 2, line[0] == "GET", line[1] == "/metrics" || line[1] == "/" {
                respond(id, status: "200 OK", body: render(), type: "text/plain; version=0.0.4; charset=utf-8")
            } else if line.count >= 2 {
                respond(id, status: "404 Not Found", body: "try GET /metrics\n")
            } else {
                respond(id, status: "400 Bad Request", body: "malformed request line\n")
            }
        }
    }

    static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 0x0D && bytes[i + 1] == 0x0A && bytes[i + 2] == 0x0D && bytes[i + 3] == 0x0A {
            return i
        }
        return nil
    }

    private func respond(_ id: [UInt8], status: String, body: String, type: String = "text/plain; charset=utf-8") {
        let bodyBytes = Array(body.utf8)
        let header = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(bodyBytes.count)\r\nConnection: close\r\n\r\n"
        _ = try? socket.send([id, Array(header.utf8) + bodyBytes], dontWait: true)
        _ = try? socket.send([id, []], dontWait: true)  // an empty frame closes the connection
        partial[id] = nil
    }
}
