/// Whether, and when, a supervisor starts a child again after it ended: the rule `chorus up` follows.
///
/// Two counters, after supervisord (`startretries`, the FATAL state) and systemd (`StartLimitBurst`):
/// - the **back-off**: the first restart waits ``Limits/firstBackoff`` (1 s), each next one twice as long, up to
///   ``Limits/maxBackoff`` (32 s); a child that had run for ``Limits/healthyAfter`` (60 s) before it ended starts
///   again from 1 s;
/// - the **quick-failure streak**: an exit within ``Limits/quickExit`` (10 s) of starting, or a launch that
///   failed, adds one; a run of 10 s or more sets it back to zero. The failure that brings it to
///   ``Limits/giveUpAfter`` (5) gives up instead of restarting: a child that cannot stay up for 10 s will not
///   after the sixth try either, and restarting it forever only buries the first error under copies of itself.
///
/// A pure state machine: no clock, no processes. The caller measures how long the child ran, reports each end
/// with ``record(_:)``, and does what the answer says.
public struct RestartPolicy: Sendable, Equatable {
    /// The numbers of the rule; the defaults are `chorus up`'s.
    public struct Limits: Sendable, Equatable {
        /// Seconds before the first restart.
        public var firstBackoff: Double = 1
        /// The back-off doubles up to this many seconds.
        public var maxBackoff: Double = 32
        /// A run at least this long (seconds) resets the back-off to ``firstBackoff``.
        public var healthyAfter: Double = 60
        /// An end sooner than this after the start (seconds) is a quick failure; a run this long or longer
        /// resets the streak.
        public var quickExit: Double = 10
        /// Quick failures in a row after which the child is given up on.
        public var giveUpAfter = 5

        public init() {}
    }

    /// How a run of the child ended.
    public enum Event: Sendable, Equatable, CustomStringConvertible {
        /// The process exited by itself with `status`, `uptime` seconds after it started.
        case exited(status: Int32, uptime: Double)
        /// The process was ended by `signal` (SIGKILL from the OOM killer, a crash), `uptime` seconds after it
        /// started.
        case killed(signal: Int32, uptime: Double)
        /// The process could not be started at all (the program vanished, a fork failed).
        case launchFailed(reason: String)

        /// How long the child ran; 0 when it never started.
        public var uptime: Double {
            switch self {
            case .exited(_, let uptime), .killed(_, let uptime): uptime
            case .launchFailed: 0
            }
        }

        /// Reads after the child's name: "text exited with status 3".
        public var description: String {
            switch self {
            case .exited(let status, _): "exited with status \(status)"
            case .killed(let signal, _): "was killed by signal \(signal)"
            case .launchFailed(let reason): "could not be started (\(reason))"
            }
        }
    }

    /// What to do about the child that ended.
    public enum Action: Sendable, Equatable {
        /// Start it again in this many seconds.
        case restart(after: Double)
        /// Do not start it again; `reason` reads after the child's name and ends with the last failure:
        /// "failed 5 times in a row within 10 s of starting (last: exited with status 3)".
        case giveUp(reason: String)
    }

    public let limits: Limits
    /// The wait before the next restart, unless the run that ends next was a healthy one.
    public private(set) var backoff: Double
    /// Quick failures in a row so far.
    public private(set) var quickFailures = 0
    /// Set by the answer ``Action/giveUp(reason:)``; every later event gets the same answer.
    public private(set) var givenUp: String?

    public init(limits: Limits = Limits()) {
        self.limits = limits
        backoff = limits.firstBackoff
    }

    /// Takes the end of one run and says whether to start the child again, and after how long.
    public mutating func record(_ event: Event) -> Action {
        if let givenUp { return .giveUp(reason: givenUp) }
        let uptime = event.uptime
        if uptime >= limits.quickExit {
            quickFailures = 0
        } else {
            quickFailures += 1
            if quickFailures >= limits.giveUpAfter {
                let reason = "failed \(quickFailures) times in a row within \(Self.seconds(limits.quickExit)) of starting (last: \(event))"
                givenUp = reason
                return .giveUp(reason: reason)
            }
        }
        if uptime >= limits.healthyAfter { backoff = limits.firstBackoff }
        let wait = backoff
        backoff = min(backoff * 2, limits.maxBackoff)
        return .restart(after: wait)
    }

    /// `1 s`, `2.5 s`: how the rule's durations read in messages.
    public static func seconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s)) s" : "\(s) s"
    }
}
