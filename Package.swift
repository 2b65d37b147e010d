// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "concert",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "concert-ingest", targets: ["concert-ingest"]),
        .executable(name: "concert-batch", targets: ["concert-batch"]),
        .executable(name: "concert-admin", targets: ["concert-admin"]),
    ],
    dependencies: [
        // Traits off: we need neither swift-configuration nor the extra Foundation glue.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // C libraries, wrapped once each. Only RedisStore imports CHiredis; only MariaDBStore imports CMariaDB.
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CMariaDB", pkgConfig: "libmariadb", providers: [.apt(["libmariadb-dev"])]),

        // Pure: request and decision types, allocation, validation, cost model. No I/O.
        .target(name: "ReservationCore", swiftSettings: swiftSettings),
        // HS256 bearer tokens (signing for concert-admin, verification for the ingest).
        .target(
            name: "TokenAuth",
            dependencies: ["ReservationCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        // Adapters: they move bytes; the core decides.
        .target(
            name: "RedisStore",
            dependencies: [
                "CHiredis", "ReservationCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MariaDBStore",
            dependencies: ["CMariaDB", "ReservationCore"],
            swiftSettings: swiftSettings
        ),
        // Services.
        .target(
            name: "IngestService",
            dependencies: [
                "ReservationCore", "RedisStore", "TokenAuth",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "BatchRunner",
            dependencies: [
                "ReservationCore", "RedisStore", "MariaDBStore",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // What the three executables share: exit codes and JSON logs.
        .target(
            name: "ConcertCommandLine",
            dependencies: [
                "ReservationCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Thin executables.
        .executableTarget(
            name: "concert-ingest",
            dependencies: [
                "IngestService", "ConcertCommandLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "concert-batch",
            dependencies: ["BatchRunner", "ConcertCommandLine", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "concert-admin",
            dependencies: [
                "MariaDBStore", "RedisStore", "TokenAuth", "BatchRunner", "ConcertCommandLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),

        // Benchmark baseline: a bare Hummingbird endpoint of the ingest's shape (deploy/bench/ingest). A fixture, not a
        // product: `swift build` still builds it (SwiftPM gives a root package's executable targets a product of their own).
        .executableTarget(
            name: "concert-bench-bare",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),

        // What several test targets share: a seeded random source, a hand-written token signer, a client for
        // HummingbirdTesting's in-process router tests.
        .target(
            name: "TestSupport",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "ReservationCoreTests", dependencies: ["ReservationCore", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "TokenAuthTests", dependencies: ["TokenAuth", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "RedisStoreTests",
            dependencies: ["RedisStore", .product(name: "MetricsTestKit", package: "swift-metrics")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "MariaDBStoreTests", dependencies: ["MariaDBStore", "ReservationCore", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "BatchRunnerTests", dependencies: ["BatchRunner", "MariaDBStore", "RedisStore", "ReservationCore"],
            swiftSettings: swiftSettings
        ),
        // The HTTP API in-process (HummingbirdTesting's router client), over an in-memory store: no server needed.
        .testTarget(
            name: "IngestServiceTests",
            dependencies: [
                "IngestService", "RedisStore", "ReservationCore", "TokenAuth", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "IngestService", "BatchRunner", "MariaDBStore", "RedisStore", "TokenAuth", "ReservationCore", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
