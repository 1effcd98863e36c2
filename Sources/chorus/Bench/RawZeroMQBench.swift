import ZeroMQ

/// The baseline: raw libzmq, one DEALER -> ROUTER hop over tcp loopback, no durability.
enum RawZeroMQBench {
    /// Messages per second through one hop of `count` messages of `size` bytes.
    static func throughput(count: Int, size: Int) throws -> Double {
        let router = try ZMQSocket(.router)
        try router.setOption(ZMQOption.receiveHighWaterMark, 0)
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = router.lastEndpoint
        let sender = onThread {
            let dealer = try ZMQSocket(.dealer)
            try dealer.setOption(ZMQOption.sendHighWaterMark, 0)
            try dealer.connect(endpoint)
            let payload = [UInt8](repeating: 0x61, count: size)
            for _ in 0..<count { try dealer.send([payload]) }
            // Wait for the receiver's signal so the socket is not closed with messages queued.
            _ = try dealer.receive()
            return 0
        }
        var received = 0
        var start: UInt64 = 0
        var routingID: [UInt8] = []
        while received < count {
            guard let m = try router.receive() else { continue }
            if received == 0 {
                start = BenchStats.nanos()
                routingID = m[0]
            }
            received += 1
        }
        let elapsed = Double(BenchStats.nanos() - start) / 1e9
        try router.send([routingID, [1]])
        _ = try sender()
        return Double(count - 1) / elapsed
    }
}
