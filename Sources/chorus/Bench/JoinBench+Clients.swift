import ChorusClient
import ChorusProtocol
import Dispatch
import Foundation
import Synchronization

/// The joins bench's clients and what they share within one run: the per-message agent, the run's progress,
/// the merged-record consumer's acks, and how a run starts and ends.
extension JoinBench {
    /// An agent that answers every request at once with a small result, acking after each confirm. It runs until
    /// `progress.stopped` is set and every result it sent is confirmed and its request acked: a count of its own
    /// would end too early when a broker kept requests of an earlier, failed run for its group. It fails on an
    /// ERROR other than a stale lease (a broker that ended its session says so on the next ack) instead of waiting
    /// for work that will not come, and when its results are still unconfirmed 30 s after the run ended.
    static func startAgent(_ endpoint: String, part: String, credit: Int, progress: Progress) -> @Sendable () throws -> Void {
        onThread {
            let c = try progress.subscribing {
                let c = try BrokerConnection(endpoint: endpoint)
                try c.hello(name: "bench-\(part)")
                try c.subscribe(group: "bench-\(part)", patterns: ["gen.request"], credit: credit)
                return c
            }
            var pending: [[UInt8]: Lease] = [:]
            let payload = [UInt8](repeating: 0x61, count: 256)
            var stoppedAt: UInt64?
            while try !progress.agentMayLeave(holding: pending.count, stoppedAt: &stoppedAt, agent: "agent \(part)") {
                guard let m = try c.receive(timeoutMilliseconds: 200) else { continue }
                switch m {
                case .deliver(let d):
                    let r = c.makeRequestID()
                    let p = Properties([("correlation", d.event.correlation ?? d.event.id), ("causation", d.event.id), ("h.status", "ok")])
                    try c.send(.publish(requestID: r, request: PublishRequest(topic: "gen.result.\(part)", properties: p, payload: payload)))
                    pending[r] = d.lease
                case .confirm(let r, _, _):
                    if let lease = pending.removeValue(forKey: r) {
                        try c.send(.ack(requestID: [], group: "bench-\(part)", leases: [lease]))
                    }
                case .error(_, let code, let message):
                    // An ack of a lease that expired meanwhile (a very slow run): the request went to someone else.
                    if code == .staleLease { continue }
                    throw ValidationFailure("agent \(part): \(code.name): \(message)")
                default: break
                }
            }
            c.close()
        }
    }

    /// Waits for the clients (three agents and the merged-record consumer) to subscribe, up to 20 s each. One that
    /// cannot (no broker, a refused SUBSCRIBE) has thrown: its error is rethrown here at once, so the run fails
    /// with the reason instead of waiting.
    /// The clients that did subscribe are stopped first (`progress.stopped`): they would otherwise wait for the run.
    /// (The closures are `@Sendable` as `onThread` makes them: Swift 6.3 traps at run time when an array of them
    /// is passed where plain closures are expected.)
    static func awaitSubscribed(_ clients: [@Sendable () throws -> Void], progress: Progress) throws {
        for _ in clients {
            let timedOut = progress.ready.wait(timeout: .now() + 20) == .timedOut
            guard timedOut || progress.failedToSubscribe.load(ordering: .acquiring) else { continue }
            progress.stopped.store(true, ordering: .releasing)
            for client in clients { try client() }
            throw ValidationFailure(timedOut ? "a bench client did not subscribe within 20 s" : "a bench client could not subscribe")
        }
    }

    /// Shared by the clients of one run.
    final class Progress: Sendable {
        /// Unique to this run, in every request's correlation id: a broker profiled several times still has earlier
        /// runs' joins as recently closed (a request reusing one of their ids would open no join), and may hold
        /// their requests and records, which this run's clients answer or ack but do not count.
        let run = String(BenchStats.wallMicros(), radix: 36)
        /// Signalled by each client once it has subscribed, or failed to.
        let ready = DispatchSemaphore(value: 0)
        /// Merged records of this run seen so far (the merged-record consumer counts, the requester reads).
        let merged = Atomic<Int>(0)
        /// Set when the run is over or failed: the agents finish what they hold and leave.
        let stopped = Atomic<Bool>(false)
        /// Set by a client that could not connect or subscribe.
        let failedToSubscribe = Atomic<Bool>(false)

        /// For an agent's loop: whether it may leave, given how many results it still waits to see confirmed.
        /// Once the run is over it leaves as soon as it holds nothing, and fails 30 s later if it still does.
        func agentMayLeave(holding: Int, stoppedAt: inout UInt64?, agent: String) throws -> Bool {
            if stoppedAt == nil && stopped.load(ordering: .acquiring) { stoppedAt = BenchStats.nanos() }
            guard let stoppedAt else { return false }
            if holding == 0 { return true }
            if BenchStats.nanos() - stoppedAt > 30_000_000_000 {
                throw ValidationFailure("\(agent): \(holding) unconfirmed 30 s after the run ended")
            }
            return false
        }

        /// Runs a client's connect-and-subscribe, then signals `ready` whether it worked or not (a failure is
        /// noted first), so `awaitSubscribed` learns of a failure at once rather than after its timeout.
        func subscribing<T>(_ body: () throws -> T) throws -> T {
            do {
                let result = try body()
                ready.signal()
                return result
            } catch {
                failedToSubscribe.store(true, ordering: .releasing)
                ready.signal()
                throw error
            }
        }
    }

    /// The merged-record consumer's result, once the agents have finished too. When the consumer failed, an agent
    /// that failed is usually why: its error is added.
    static func finish<T>(_ merged: () throws -> T, agents: [@Sendable () throws -> Void], progress: Progress) throws -> T {
        let result: T
        do {
            result = try merged()
        } catch {
            progress.stopped.store(true, ordering: .releasing)
            let agentErrors = agents.compactMap { a -> String? in
                do { try a() } catch { return "\(error)" }
                return nil
            }
            throw ValidationFailure("\(error)" + (agentErrors.isEmpty ? "" : "; " + agentErrors.joined(separator: "; ")))
        }
        progress.stopped.store(true, ordering: .releasing)
        for a in agents { try a() }
        return result
    }

    /// A merged-record consumer's acks, sent `every` at a time and the rest at the end: records left unacked would
    /// be delivered again to the next run on a profiled broker.
    struct BatchedAcks {
        let group: String
        let every: Int
        private var leases: [Lease] = []

        init(group: String, every: Int) {
            self.group = group
            self.every = every
        }

        mutating func add(_ lease: Lease, on c: BrokerConnection) throws {
            leases.append(lease)
            if leases.count >= every { try flush(on: c) }
        }

        mutating func flush(on c: BrokerConnection) throws {
            guard !leases.isEmpty else { return }
            try c.ack(group: group, leases: leases)
            leases.removeAll()
        }
    }

    /// Waits for the next delivery, skipping heartbeats, for up to 60 s: a broker that stopped sending records
    /// still sends heartbeats, and a plain receive timeout would then never fire.
    static func nextDelivery(_ c: BrokerConnection, seen: Int) throws -> Delivery {
        let deadline = BenchStats.nanos() + 60_000_000_000
        while BenchStats.nanos() < deadline {
            switch try c.receive(timeoutMilliseconds: 1000) {
            case .deliver(let d): return d
            case .error(_, let code, let message): throw ValidationFailure("merged-record consumer: \(code.name): \(message)")
            default: continue
            }
        }
        throw ValidationFailure("merged records stopped at \(seen)")
    }
}
