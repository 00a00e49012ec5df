// swift-tools-version:6.2
import PackageDescription

/// Strict settings on every target of ours (house style: as swift-log does).
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "neuroplex",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "neuroplex", targets: ["neuroplex"]),
        .library(name: "NeuroplexClient", targets: ["NeuroplexClient"]),
        .library(name: "NeuroplexCore", targets: ["NeuroplexCore"]),
        .library(name: "NeuroplexStorage", targets: ["NeuroplexStorage"]),
        .library(name: "NeuroplexGateway", targets: ["NeuroplexGateway"]),
        .library(name: "NeuroplexML", targets: ["NeuroplexML"]),
        .library(name: "NeuroplexAPI", targets: ["NeuroplexAPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: ["JSON", "YAML"]),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-openapi-generator", from: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime", from: "1.13.4"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-openapi-async-http-client", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/sql-kit", from: "3.36.0"),
        .package(url: "https://github.com/vapor/sqlite-kit", from: "4.5.2"),
        .package(url: "https://github.com/vapor/postgres-kit", from: "2.17.0"),
        .package(url: "https://github.com/jpsim/Yams", "5.4.0"..<"7.0.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        // Shared vocabulary: errors with stable codes, ids, JSON values, pagination, configuration.
        .target(
            name: "NeuroplexCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Delta-state CRDTs (counters, sets, maps, text, graphs) as plain values: no I/O, no clocks of their own.
        .target(
            name: "NeuroplexCRDT",
            dependencies: ["NeuroplexCore"],
            swiftSettings: strict
        ),
        // The memory engine: key-value store, CRDT objects, transactions, change stream, write-ahead log.
        .target(
            name: "NeuroplexMemory",
            dependencies: [
                "NeuroplexCore",
                "NeuroplexCRDT",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // One SQL code path over SQLite (default) and PostgreSQL, migrations, blob store.
        .target(
            name: "NeuroplexStorage",
            dependencies: [
                "NeuroplexCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "PostgresKit", package: "postgres-kit"),
            ],
            swiftSettings: strict
        ),
        // XGBoost's C API from the system library (Debian libxgboost-dev; scripts/bootstrap installs it).
        .systemLibrary(
            name: "CXGBoost",
            path: "Sources/CXGBoost",
            providers: [.apt(["libxgboost-dev"])]
        ),
        // libpcap from the system library (Debian libpcap-dev), for Sentinel's live capture.
        .systemLibrary(
            name: "CPcap",
            path: "Sources/CPcap",
            providers: [.apt(["libpcap-dev"])]
        ),
        // The ML engine: datasets (streamed upload, schema inference, statistics), preprocessing, learners, the
        // training-job queue, the model registry and validation.
        .target(
            name: "NeuroplexML",
            dependencies: [
                "CXGBoost",
                "NeuroplexCore",
                "NeuroplexStorage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLKit", package: "sql-kit"),
            ],
            swiftSettings: strict
        ),
        // Sentinel: network threat detection (detection rules, alerts and incidents so far).
        .target(
            name: "NeuroplexSentinel",
            dependencies: [
                "CPcap",
                "NeuroplexCore",
                "NeuroplexStorage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        // API keys, scopes, rate limits (later: webhooks, audit, LLM gateway).
        .target(
            name: "NeuroplexGateway",
            dependencies: [
                "NeuroplexCore",
                "NeuroplexStorage",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLKit", package: "sql-kit"),
            ],
            swiftSettings: strict
        ),
        // The HTTP contract (openapi.yaml), handlers, middleware and application assembly.
        .target(
            name: "NeuroplexAPI",
            dependencies: [
                "NeuroplexSentinel",
                "NeuroplexCore",
                "NeuroplexStorage",
                "NeuroplexGateway",
                "NeuroplexMemory",
                "NeuroplexCRDT",
                "NeuroplexML",
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "WSCore", package: "swift-websocket"),
                .product(name: "Yams", package: "Yams"),
            ],
            resources: [.copy("openapi.yaml")],
            swiftSettings: strict,
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]
        ),
        // The Swift SDK: a curated client over the generated one. AsyncHTTPClient is its transport because it
        // streams response bodies on Linux (URLSession there buffers them, so Server-Sent Events never arrive).
        .target(
            name: "NeuroplexClient",
            dependencies: [
                "NeuroplexCore",
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "OpenAPIAsyncHTTPClient", package: "swift-openapi-async-http-client"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
            ],
            swiftSettings: strict,
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]
        ),
        .executableTarget(
            name: "neuroplex",
            dependencies: [
                "NeuroplexAPI",
                "NeuroplexClient",
                "NeuroplexCore",
                "NeuroplexGateway",
                "NeuroplexSentinel",
                "NeuroplexStorage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // In-process benchmark of the memory engine: `swift run -c release memory-bench`.
        .executableTarget(
            name: "memory-bench",
            dependencies: [
                "NeuroplexCore",
                "NeuroplexMemory",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/MemoryBench",
            swiftSettings: strict
        ),
        // Watch fan-out over SSE from a client that keeps up (one NIO event loop): bench/sse-fanout.sh.
        .executableTarget(
            name: "sse-fanout-bench",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/SSEFanout",
            swiftSettings: strict
        ),
        // Replays a text-editing trace through the text CRDT: bench/text-trace.sh.
        .executableTarget(
            name: "text-trace",
            dependencies: ["NeuroplexCore", "NeuroplexCRDT"],
            path: "Benchmarks/TextTrace",
            swiftSettings: strict
        ),
        // Sentinel's packet path against tshark: bench/sentinel.sh.
        .executableTarget(
            name: "sentinel-bench",
            dependencies: ["NeuroplexSentinel"],
            path: "Benchmarks/SentinelBench",
            swiftSettings: strict
        ),
        // The native tree-ensemble evaluator against XGBoost's predictor: bench/tree-eval.sh.
        .executableTarget(
            name: "tree-eval-bench",
            dependencies: ["CXGBoost", "NeuroplexCore", "NeuroplexML"],
            path: "Benchmarks/TreeEvalBench",
            swiftSettings: strict
        ),
        // Helpers shared by the test targets (temporary databases, log capture).
        .target(
            name: "NeuroplexTestSupport",
            dependencies: [
                "NeuroplexStorage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLKit", package: "sql-kit"),
            ],
            path: "Tests/Support",
            swiftSettings: strict
        ),
        .testTarget(
            name: "NeuroplexStorageTests",
            dependencies: ["NeuroplexStorage", "NeuroplexCore", "NeuroplexTestSupport",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "SQLKit", package: "sql-kit")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NeuroplexCRDTTests",
            dependencies: ["NeuroplexCRDT", "NeuroplexCore",
                           .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NeuroplexMemoryTests",
            dependencies: ["NeuroplexMemory", "NeuroplexCRDT", "NeuroplexCore", "NeuroplexTestSupport",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NeuroplexGatewayTests",
            dependencies: ["NeuroplexGateway", "NeuroplexStorage", "NeuroplexCore", "NeuroplexTestSupport",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "SQLKit", package: "sql-kit")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NeuroplexMLTests",
            dependencies: ["NeuroplexML", "NeuroplexStorage", "NeuroplexCore", "NeuroplexTestSupport",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "SQLKit", package: "sql-kit")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NeuroplexSentinelTests",
            dependencies: ["NeuroplexSentinel", "NeuroplexCore", "NeuroplexTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NeuroplexAPITests",
            dependencies: [
                "NeuroplexAPI",
                "NeuroplexClient",
                "NeuroplexGateway",
                "NeuroplexMemory",
                "NeuroplexML",
                "NeuroplexSentinel",
                "NeuroplexStorage",
                "NeuroplexCore",
                "NeuroplexTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
    ]
)
