import Foundation

/// A value shared between a callback thread and the thread waiting for it, guarded by a lock.
///
/// Used where a completion handler or waiter thread hands a result to a caller blocked on a semaphore; the
/// lock makes the hand-over explicit instead of relying on the semaphore's memory ordering.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    init(_ value: Value) { stored = value }

    var value: Value {
        get {
            lock.lock()
            defer { lock.unlock() }
            return stored
        }
        set {
            lock.lock()
            defer { lock.unlock() }
            stored = newValue
        }
    }
}
