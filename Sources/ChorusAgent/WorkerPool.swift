import Foundation
import Synchronization
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// Runs handlers on a fixed number of threads (the agent's concurrency) and hands finished work back to the
/// socket-owning loop through a queue and the wake pipe. Bounded: the loop never submits more than its credit.
final class WorkerPool: Sendable {
    struct Finished: Sendable {
        let seq: UInt64
        let result: Result<AgentOutput, AgentFailure>
    }

    private let jobs = Mutex<[(UInt64, AgentJob)]>([])
    private let finished = Mutex<[Finished]>([])
    private let available = DispatchSemaphore(value: 0)
    private let stopping = Mutex(false)
    private let wake: WakePipe

    init(threads: Int, wake: WakePipe, handler: @escaping AgentHandler) {
        self.wake = wake
        for i in 0..<threads {
            let thread = Thread { [self] in self.work(handler) }
            thread.name = "agent-worker-\(i)"
            thread.start()
        }
    }

    func submit(_ seq: UInt64, _ job: AgentJob) {
        jobs.withLock { $0.append((seq, job)) }
        available.signal()
    }

    func takeFinished() -> [Finished] {
        finished.withLock { f in
            defer { f.removeAll() }
            return f
        }
    }

    /// Lets the worker threads end once the queue is empty.
    func shutdown(threads: Int) {
        stopping.withLock { $0 = true }
        for _ in 0..<threads { available.signal() }
    }

    private func work(_ handler: AgentHandler) {
        while true {
            available.wait()
            guard let (seq, job) = jobs.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else {
                if stopping.withLock({ $0 }) { return }
                continue
            }
            let result: Result<AgentOutput, AgentFailure>
            do {
                result = .success(try handler(job))
            } catch let failure as AgentFailure {
                result = .failure(failure)
            } catch {
                result = .failure(.permanent("\(error)"))
            }
            finished.withLock { $0.append(Finished(seq: seq, result: result)) }
            wake.wake()
        }
    }
}
