import ZeroMQ

/// Asks a running broker to stop, from any thread: a wake pipe the broker polls beside its sockets.
public typealias StopSignal = WakePipe

extension WakePipe {
    /// Requests the stop; safe to call more than once.
    public func stop() { wake() }

    /// Whether a stop was requested (and clears the request).
    var isStopRequested: Bool { drain() }
}
