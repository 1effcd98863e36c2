import ChorusProtocol
import Metrics

/// The broker's metrics, through swift-metrics: histograms recorded as things happen, and the `stats` counters
/// published as gauges right before each scrape. The executable chooses the backend (Prometheus).
struct BrokerMetrics {
    let publishToCommit = Metrics.Timer(label: "chorus_publish_to_commit_seconds")
    let publishToDeliver = Metrics.Timer(label: "chorus_publish_to_deliver_seconds")
    let joinDuration = Metrics.Timer(label: "chorus_join_duration_seconds")

    /// Copies the current counters into gauges (called on the broker thread before rendering).
    func publish(_ c: BrokerCounters, groups: [ConsumerGroup], joins: [(name: String, open: Int, closed: [String: UInt64])], lastSeq: UInt64, sessions: Int, logBytes: Int64) {
        func gauge(_ name: String, _ value: Double, _ dimensions: [(String, String)] = []) {
            Gauge(label: name, dimensions: dimensions).record(value)
        }
        gauge("chorus_published_total", Double(c.published))
        gauge("chorus_duplicates_total", Double(c.duplicates))
        gauge("chorus_delivered_total", Double(c.delivered))
        gauge("chorus_redelivered_total", Double(c.redelivered))
        gauge("chorus_acked_total", Double(c.acked))
        gauge("chorus_nacked_total", Double(c.nacked))
        gauge("chorus_stale_acks_total", Double(c.staleAcks))
        gauge("chorus_lease_timeouts_total", Double(c.leaseTimeouts))
        gauge("chorus_dead_lettered_total", Double(c.deadLettered))
        gauge("chorus_expired_total", Double(c.expired))
        gauge("chorus_commits_total", Double(c.commits))
        gauge("chorus_events_removed_total", Double(c.eventsRemoved))
        gauge("chorus_last_seq", Double(lastSeq))
        gauge("chorus_sessions", Double(sessions))
        gauge("chorus_log_bytes", Double(logBytes))
        for (code, n) in c.errors { gauge("chorus_errors_total", Double(n), [("code", ErrorCode.from(number: code).name)]) }
        for g in groups {
            let d = [("group", g.name)]
            let inFlight = g.inFlightCount
            gauge("chorus_group_backlog", Double(g.unexamined(lastSeq: lastSeq) + g.pending.count - inFlight), d)
            gauge("chorus_group_in_flight", Double(inFlight), d)
            gauge("chorus_group_consumers", Double(g.members.count), d)
            gauge("chorus_group_delivered_total", Double(g.delivered), d)
            gauge("chorus_group_acked_total", Double(g.acked), d)
            gauge("chorus_group_redelivered_total", Double(g.redelivered), d)
            gauge("chorus_group_dead_lettered_total", Double(g.deadLettered), d)
        }
        for j in joins {
            gauge("chorus_join_open", Double(j.open), [("join", j.name)])
            for (status, n) in j.closed { gauge("chorus_join_closed_total", Double(n), [("join", j.name), ("status", status)]) }
        }
    }
}
