// swift-tools-version:6.1
import PackageDescription

// Dependencies are few on purpose: CI rebuilds them from a fresh clone on 2 cores.
// - swift-argument-parser: the `chorus` command line (only the executable imports it).
// - swift-log: the `Logger` every library takes.
// - TOMLKit: broker and agent configs are TOML (sections, comments, no indentation traps).
// - swift-metrics + swift-prometheus: the broker's metrics API and its Prometheus text exporter (small: no NIO).
// SQLite and ZeroMQ come from Debian (libsqlite3-dev, libzmq3-dev) through system-library targets.
let package = Package(
    name: "chorus",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "chorus", targets: ["chorus"]),
        .library(name: "ChorusClient", targets: ["ChorusClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "CZeroMQ", pkgConfig: "libzmq", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"]),
        .target(name: "ChorusProtocol"),
        .target(name: "ChorusConfig", dependencies: [.product(name: "TOMLKit", package: "TOMLKit")]),
        .target(
            name: "ChorusStore",
            dependencies: ["CSQLite", "ChorusProtocol", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "ChorusBroker",
            dependencies: [
                "ZeroMQ", "ChorusProtocol", "ChorusStore", "ChorusConfig",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "ChorusClient",
            dependencies: ["ZeroMQ", "ChorusProtocol", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "ChorusAgent",
            dependencies: [
                "ChorusClient", "ChorusProtocol", "ChorusConfig", "ChorusGenerators", "ZeroMQ",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "ChorusGenerators", dependencies: ["ChorusProtocol"]),
        .executableTarget(
            name: "chorus",
            dependencies: [
                "ChorusBroker", "ChorusClient", "ChorusAgent", "ChorusConfig", "ChorusGenerators", "ChorusStore", "ZeroMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .testTarget(name: "ChorusProtocolTests", dependencies: ["ChorusProtocol"]),
        .testTarget(name: "ChorusGeneratorsTests", dependencies: ["ChorusGenerators", "ChorusProtocol"]),
        .testTarget(
            name: "ChorusStoreTests",
            dependencies: ["ChorusStore", "ChorusProtocol", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "ChorusBrokerTests", dependencies: ["ChorusBroker", "ChorusProtocol", "ChorusStore", "ChorusConfig", "ZeroMQ"]),
        .testTarget(name: "ChorusAgentTests", dependencies: ["ChorusAgent"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["ChorusClient", "ChorusProtocol", "ZeroMQ"],
            resources: []
        ),
    ],
    swiftLanguageModes: [.v6]
)
