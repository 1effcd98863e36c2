import ChorusConfig
@testable import ChorusBroker
import ChorusStore
import Testing

@Suite("BrokerConfig defaults")
struct BrokerConfigDefaultsTests {
    func expectDefaults(_ c: BrokerConfig) {
        #expect(c.name == "chorus")
        #expect(c.endpoint == "tcp://127.0.0.1:7750")
        #expect(c.firehoseEndpoint == "tcp://127.0.0.1:7751")
        #expect(c.dataDirectory == "data")
        #expect(c.logLevel == "info")
        #expect(c.durability == .normal)
        #expect(c.maxPayloadBytes == 1_048_576)
        #expect(c.idempotencyWindowMilliseconds == 86_400_000)
        #expect(c.heartbeatMilliseconds == 1000)
        #expect(c.heartbeatMisses == 3)
        #expect(c.ackTimeoutMilliseconds == 1_800_000)
        #expect(c.maxAttempts == 5)
        #expect(c.maxPendingPerGroup == 10_000)
        #expect(c.defaultCredit == 1)
        #expect(c.maxInFlightBytes == 67_108_864)
        #expect(c.maxSessions == 10_000)
        #expect(c.maxSubscriptionsPerSession == 64)
        #expect(c.maxGroups == 1000)
        #expect(c.batchSize == 2048)
        #expect(c.recentEvents == 16_384)
        #expect(c.recentBytes == 67_108_864)
        #expect(c.firehoseHighWaterMark == 100_000)
        #expect(c.connectionQueue == 1000)
        #expect(c.groups.isEmpty)
        #expect(c.logPath == "data/chorus.sqlite")
    }

    @Test func initHasTheDocumentedDefaults() {
        expectDefaults(BrokerConfig())
    }

    @Test func emptyFileGivesDefaults() throws {
        expectDefaults(try BrokerConfig.parse(text: "", file: "empty.toml"))
    }

    @Test func commentsAndEmptySectionsGiveDefaults() throws {
        let text = """
            # nothing set
            [broker]
            [storage]
            [delivery]
            [limits]
            """
        expectDefaults(try BrokerConfig.parse(text: text, file: "c.toml"))
    }

    @Test func unsetKeysKeepDefaultsBesideSetOnes() throws {
        let c = try BrokerConfig.parse(text: "[delivery]\nmax_attempts = 9\n", file: "c.toml")
        #expect(c.maxAttempts == 9)
        #expect(c.heartbeatMisses == 3)
        #expect(c.name == "chorus")
    }

    @Test func logPathFollowsDataDirectory() throws {
        let c = try BrokerConfig.parse(text: "[broker]\ndata_dir = \"/var/lib/chorus\"\n", file: "c.toml")
        #expect(c.logPath == "/var/lib/chorus/chorus.sqlite")
    }

    @Test func loadReadsAFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("chorus-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("broker.toml").path
        try "[broker]\nname = \"from-file\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try BrokerConfig.load(path: path).name == "from-file")
    }

    @Test func loadOfAMissingFileNamesIt() {
        let path = "/nonexistent-\(UUID().uuidString)/broker.toml"
        let error = #expect(throws: ConfigError.self) { try BrokerConfig.load(path: path) }
        #expect(error?.file == path)
        #expect(error?.key == "")
        #expect(error?.description.hasPrefix(path + ": ") == true)
    }
}

import Foundation
