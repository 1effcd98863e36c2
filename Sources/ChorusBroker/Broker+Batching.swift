import ChorusProtocol
import ChorusStore
import ZeroMQ

/// Batched delivery (docs/PROTOCOL.md, section 7.16): a member that subscribed with `batch` above 1 gets its
/// deliveries as DELIVERMANY messages of up to `batch` deliveries instead of one DELIVER each. Each message a
/// client receives costs both sides a fixed share of work whatever it carries, so a busy consumer that takes
/// hundreds of events per loop iteration receives a few messages instead of hundreds.
///
/// Deliveries wait in the member (`Subscription.staged`) and become one message in the outbox when the batch is
/// full, when it holds `maxStagedBytes` of payload, before any reply to the same client (so a reply never
/// overtakes a delivery made before it), and at the end of the iteration (`flush`). They can only leave later
/// than a DELIVER would have, never before the commit that records them.
extension Broker {
    /// A DELIVERMANY stops growing once its payloads reach this size.
    static let maxStagedBytes = 1 << 20

    /// Queues a delivery for `member`'s next DELIVERMANY.
    func stage(_ log: LogEntry, token: UInt64, attempt: Int, to member: Subscription) {
        if member.staged.isEmpty {
            member.session.membersWithStaged += 1
            membersWithStaged.append(member)
        }
        member.staged.append(StagedDelivery(entry: log, token: token, attempt: attempt))
        member.stagedBytes += log.payloadCount
        if member.staged.count >= member.batch || member.stagedBytes >= Self.maxStagedBytes {
            closeStaged(member)
        }
    }

    /// Moves `member`'s staged deliveries into the outbox as one DELIVERMANY.
    func closeStaged(_ member: Subscription) {
        guard !member.staged.isEmpty else { return }
        guard let group = groupsByID[member.groupID] else { return dropStaged(member) }
        outbox.appendDeliverMany(routedTo: member.session.routingID, group: group.nameBytes, member.staged, packed: member.packed)
        dropStaged(member)
    }

    /// Forgets `member`'s staged deliveries without sending them (their leases have been released).
    func dropStaged(_ member: Subscription) {
        guard !member.staged.isEmpty else { return }
        member.staged.removeAll(keepingCapacity: member.staged.capacity <= 1024)
        member.stagedBytes = 0
        member.session.membersWithStaged -= 1
    }

    /// Sends what `session`'s members have staged before anything else is queued to it.
    func closeStaged(of session: Session) {
        guard session.membersWithStaged > 0 else { return }
        for member in session.subscriptions.values { closeStaged(member) }
    }

    /// Closes every staged batch: the end of the loop iteration.
    func closeAllStaged() {
        guard !membersWithStaged.isEmpty else { return }
        for member in membersWithStaged { closeStaged(member) }
        membersWithStaged.removeAll(keepingCapacity: true)
    }
}
