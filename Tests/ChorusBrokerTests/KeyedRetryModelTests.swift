@testable import ChorusBroker
import ChorusProtocol
import ChorusStore
import Foundation
import Testing

/// A seeded random walk through what a broker thread does: PUBLISH and PUBLISHMANY (packed or not) with new and
/// retried idempotency keys, AWAITs for events already published, flushes inline and to the commit thread, waits
/// for the commit in flight with and without sending, and, for half the seeds, a read-only connection that breaks
/// half-way. Whatever the order and wherever the commit thread is, every key is stored exactly once and every
/// AWAIT for a published event is answered at once. (Written by a reviewer as a throwaway check: with the in-flight
/// lookups removed it finds keys stored twice, and AWAITs that wait for events already published.)
@Suite("Keyed retries and AWAIT hold across every commit timing")
struct KeyedRetryModelTests {
    static let client: [UInt8] = [0, 0xC0, 0, 0, 9]

    /// A publish whose payload is its key (to count stored events per key) and correlation names it too.
    static func request(_ key: String) -> PublishRequest {
        PublishRequest(topic: "jobs.e", properties: Properties([("key", key), ("correlation", "c-" + key)]), payload: Array(key.utf8))
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func everyKeyIsStoredOnceAndEveryAwaitIsAnswered(seed: UInt64) throws {
        try withTestBroker { broker, directory in
            var random = SplitMix64(seed: seed)
            func pick(_ n: Int) -> Int { Int(random.next() % UInt64(n)) }
            var keys: [String] = []
            func key(retryOneIn n: Int) -> String {
                let k = keys.isEmpty || pick(n) == 0 ? "k\(keys.count)" : keys[pick(keys.count)]
                if !keys.contains(k) { keys.append(k) }
                return k
            }
            var unansweredAwaits = 0
            for step in 0..<3000 {
                if seed % 2 == 0 && step == 1500 {
                    // From here the read-only connection fails, and reads go to the store.
                    broker.logReader = try makeFailingLogReader(in: directory)
                }
                let id = Array("r\(step)".utf8)
                switch pick(10) {
                case 0, 1, 2:
                    broker.handle(from: Self.client, .publish(requestID: id, request: Self.request(key(retryOneIn: 2))))
                case 3, 4:
                    let requests = (0...pick(4)).map { _ in Self.request(key(retryOneIn: 3)) }
                    let frames = pick(2) == 0
                        ? ClientCommand.encodePackedPublishMany(requestID: id, requests)
                        : ClientCommand.publishMany(requestID: id, requests).encode()
                    broker.handle([Self.client] + frames)
                case 5:
                    guard !keys.isEmpty else { break }
                    let waiting = broker.waiters.count
                    let command = ClientCommand.await(requestID: id, correlation: "c-" + keys[pick(keys.count)], pattern: "jobs.>", afterSeq: 0, timeoutMilliseconds: 60_000)
                    broker.handle(from: Self.client, command)
                    if broker.waiters.count != waiting { unansweredAwaits += 1 }
                case 6, 7:
                    try broker.flush(inline: pick(2) == 0)
                case 8:
                    if pick(2) == 0 { try broker.settleCommit() } else { _ = try broker.store }  // waits; sends or not
                default:
                    broker.now += 1
                }
            }
            try broker.flush(inline: true)

            let reader = try LogReader(path: broker.config.logPath)
            var stored: [String: Int] = [:]
            var after: UInt64 = 0
            let through = try reader.lastSequence()
            while after < through {
                let page = try reader.page(after: after, through: through, filter: LogFilter())
                for e in page.events { stored[String(decoding: e.payload, as: UTF8.self), default: 0] += 1 }
                after = page.scannedThrough
            }
            #expect(stored.filter { $0.value > 1 }.isEmpty, "stored twice: \(stored.filter { $0.value > 1 }.keys.sorted().prefix(5))")
            #expect(stored.count == keys.count, "every key published is stored")
            #expect(unansweredAwaits == 0, "an AWAIT for an event already published waited")
            if seed % 2 == 0 { #expect(broker.counters.readerFailures >= 1, "the broken reader was used and failed") }
        }
    }
}
