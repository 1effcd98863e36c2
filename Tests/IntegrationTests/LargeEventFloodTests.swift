import ChorusClient
import ChorusProtocol
import Foundation
import Testing

/// What one client can park in the broker is bounded: libzmq holds at most 1,000 of its messages
/// (`Broker.receiveHighWaterMark`), and a loop iteration reads at most 32 MiB of them. Before, a publisher with
/// a deep window of large events had all of them queued (100,000 messages allowed) and read into one batch of
/// up to 2,048 messages: 500 MB in flight peaked the broker at 570-600 MiB; now at about 225 MiB.
@Suite struct LargeEventFloodTests {
    static func peakRSS(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }

    @Test(.timeLimit(.minutes(3)))
    func aPublisherFloodingLargeEventsParksABoundedAmountInTheBroker() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let pid = try #require(broker.child?.process.processIdentifier)
        let c = try BrokerConnection(endpoint: broker.endpoint)
        defer { c.close() }
        _ = try c.hello(name: "flood")
        let total = 5000
        let frames = ClientCommand.publish(
            requestID: [], request: PublishRequest(topic: "flood.big", payload: [UInt8](repeating: 0x61, count: 100_000))
        ).encode()
        // All 500 MB sent before a single confirm is read: the deepest window a client can have.
        for _ in 0..<total { try c.sendRaw(frames) }
        var confirmed = 0
        while confirmed < total, let m = try c.receive(timeoutMilliseconds: 60_000) {
            if case .confirm = m { confirmed += 1 }
        }
        #expect(confirmed == total, "every event is still confirmed")
        let peak = Self.peakRSS(pid)
        #expect(peak > 0 && peak < 420 << 20, "broker peak RSS \(peak >> 20) MiB with 500 MB in flight")
    }
}
