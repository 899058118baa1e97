// swift-tools-version: 6.0
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "vault",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vault", targets: ["vault"]),
        .executable(name: "vault-emulator", targets: ["vault-emulator"]),
        .library(name: "EntraEmulator", targets: ["EntraEmulator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.27.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.3.0"),
        // The emulator's HTTPS client for federated issuers' metadata (already in the graph through hummingbird).
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.21.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
    ],
    targets: [
        // C libraries from Debian's packages.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        // Headers only: libcurl itself is loaded with dlopen on first use (see CCurlShim), so no pkg-config link flags.
        .systemLibrary(
            name: "CCurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .target(name: "CCurlShim", dependencies: ["CCurl"]),
        .target(name: "CProcessShim"),
        // PKCS#12 through Debian's OpenSSL 3, loaded with dlopen on first use (no headers, no link flags).
        .target(name: "CPKCS12Shim", linkerSettings: [.linkedLibrary("dl")]),

        // The vault's own layers, from the bottom up.
        // Swift over the C process shim (signals, spawn, byte-range locks, peer credentials, sd_notify, hardening): the
        // only importer of CProcessShim.
        .target(name: "VaultSystem", dependencies: ["CProcessShim"], swiftSettings: strict),
        // The one error type: a typed code, the facts, named context; the CLI alone words it (ErrorWords).
        .target(name: "VaultErrors", swiftSettings: strict),
        .target(name: "VaultCrypto", dependencies: ["VaultErrors", "CSodium"], swiftSettings: strict),
        // The one JSON scanner (caps, duplicate names), string decoder (into SecretBytes), writer and redaction walker.
        .target(name: "VaultJSON", dependencies: ["VaultErrors", "VaultCrypto"], swiftSettings: strict),
        // The vault's typed records (apps and their metadata), the pure codec of docs/FORMAT.md over them (what
        // vault-vectors and the fuzzers link), and the file store (atomic writes, locks, token cache files, audit log).
        .target(name: "VaultRecords", dependencies: ["VaultErrors", "VaultCrypto", "VaultJSON"], swiftSettings: strict),
        .target(name: "VaultFormat", dependencies: ["VaultErrors", "VaultCrypto", "VaultRecords"], swiftSettings: strict),
        .target(name: "VaultStore", dependencies: ["VaultErrors", "VaultCrypto", "VaultFormat", "VaultRecords", "VaultSystem"], swiftSettings: strict),
        .target(
            name: "VaultHTTP",
            dependencies: ["VaultErrors", "CCurl", "CCurlShim", "VaultCrypto", "VaultJSON", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .target(
            name: "EntraAuth",
            dependencies: ["VaultErrors", "VaultCrypto", "VaultJSON", "VaultStore", "VaultFormat", "VaultRecords", "VaultHTTP", "VaultPKI", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .target(
            name: "IdentityEndpoint",
            dependencies: ["VaultErrors", "VaultCrypto", "VaultJSON",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio")],
            swiftSettings: strict
        ),
        .target(name: "FleetBackend", dependencies: ["VaultErrors", "VaultCrypto", "VaultJSON", "VaultHTTP"], swiftSettings: strict),
        .target(name: "VaultAgent", dependencies: ["VaultErrors", "VaultCrypto", "VaultSystem"], swiftSettings: strict),
        .target(name: "Graph", dependencies: ["VaultErrors", "VaultHTTP", "VaultCrypto", "VaultJSON"], swiftSettings: strict),
        // RSA keys, X.509, PKCS#12 and JWS for certificate credentials; touches no file, network or vault format.
        .target(
            name: "VaultPKI",
            dependencies: [
                "VaultErrors", "VaultCrypto",
                "VaultJSON",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                "CPKCS12Shim",
            ],
            swiftSettings: strict
        ),
        // The use cases, in three rooms: tokens (issuing, the cache, the handout, the audit log, fleet backends as a
        // secret's home), rotation (the one state machine, its credential kinds and homes), and the rest (apps, status,
        // backends, the rotation front).
        .target(
            name: "VaultTokens",
            dependencies: ["VaultErrors", "VaultCrypto", "VaultJSON", "VaultStore", "VaultFormat", "VaultRecords", "VaultHTTP", "EntraAuth", "Graph", "VaultPKI", "FleetBackend"],
            swiftSettings: strict
        ),
        .target(
            name: "VaultRotation",
            dependencies: ["VaultErrors", "VaultTokens", "VaultCrypto", "VaultStore", "VaultFormat", "VaultRecords", "VaultHTTP", "EntraAuth", "Graph", "VaultPKI", "FleetBackend"],
            swiftSettings: strict
        ),
        .target(
            name: "VaultCore",
            dependencies: ["VaultErrors", "VaultTokens", "VaultRotation", "VaultCrypto", "VaultJSON", "VaultStore", "VaultFormat", "VaultRecords", "VaultHTTP", "EntraAuth", "Graph", "VaultPKI", "FleetBackend"],
            swiftSettings: strict
        ),
        // The CLI: the one place that words things for people. VaultCLI holds what every command shares (the console,
        // the error table ErrorWords, output formats, prompts, the common options); the commands are in two modules
        // (the vault and its apps; tokens, Graph and programs); the executable is the entry point alone.
        .target(
            name: "VaultCLI",
            dependencies: [
                "VaultErrors", "VaultCore", "VaultTokens", "VaultRotation", "VaultCrypto", "VaultJSON", "VaultStore", "VaultFormat", "VaultRecords", "VaultHTTP", "EntraAuth", "Graph", "VaultSystem", "VaultPKI", "IdentityEndpoint", "VaultAgent", "FleetBackend",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "VaultAdminCommands",
            dependencies: [
                "VaultCLI", "VaultErrors", "VaultCore", "VaultTokens", "VaultRotation", "VaultCrypto", "VaultJSON", "VaultStore", "VaultFormat", "VaultRecords", "VaultHTTP", "EntraAuth", "Graph", "VaultSystem", "VaultPKI", "IdentityEndpoint", "VaultAgent", "FleetBackend",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "VaultRunCommands",
            dependencies: [
                "VaultCLI", "VaultErrors", "VaultCore", "VaultTokens", "VaultRotation", "VaultCrypto", "VaultJSON", "VaultStore", "VaultFormat", "VaultRecords", "VaultHTTP", "EntraAuth", "Graph", "VaultSystem", "VaultPKI", "IdentityEndpoint", "VaultAgent", "FleetBackend",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "vault",
            dependencies: [
                "VaultCLI", "VaultAdminCommands", "VaultRunCommands", "VaultErrors", "VaultCore", "VaultTokens", "VaultRotation", "VaultCrypto", "VaultJSON", "VaultStore", "VaultFormat", "VaultRecords", "VaultHTTP", "EntraAuth", "Graph", "VaultSystem", "VaultPKI", "IdentityEndpoint", "VaultAgent", "FleetBackend",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Bench only (bench/scale.sh): fills a vault with thousands of apps and cached tokens at once.
        .executableTarget(
            name: "vault-scale-seed",
            dependencies: ["VaultErrors", "VaultCrypto", "VaultStore", "VaultFormat", "VaultRecords", "EntraAuth"],
            swiftSettings: strict
        ),
        // Writes the test vectors of docs/FORMAT.md with fixed randomness.
        .executableTarget(
            name: "vault-vectors",
            dependencies: ["VaultErrors", "VaultCrypto", "VaultFormat", "VaultRecords", "VaultStore"],
            swiftSettings: strict
        ),

        // The local Entra ID + Graph emulator: never linked into `vault`.
        // Its directory: synthetic users and Graph's query rules over them (no HTTP).
        .target(
            name: "EmulatorDirectory",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .target(
            name: "EntraEmulator",
            dependencies: [
                "EmulatorDirectory",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "vault-emulator",
            dependencies: ["EntraEmulator", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),

        // Fuzz harnesses (docs/development.md, "Fuzzing"): a plain build is the corpus replayer the tests run;
        // bench/fuzz.sh builds them with libFuzzer and ASan. Never linked into `vault`.
        .target(name: "FuzzSupport", swiftSettings: strict),
        .executableTarget(name: "fuzz-vault-file", dependencies: ["VaultErrors", "FuzzSupport", "VaultJSON", "VaultFormat", "VaultRecords", "VaultCrypto"], swiftSettings: strict),
        .executableTarget(name: "fuzz-token-cache", dependencies: ["VaultErrors", "FuzzSupport", "VaultJSON", "EntraAuth", "VaultStore", "VaultFormat", "VaultRecords", "VaultCrypto"], swiftSettings: strict),
        .executableTarget(name: "fuzz-token-response", dependencies: ["VaultErrors", "FuzzSupport", "VaultJSON", "EntraAuth", "VaultHTTP", "VaultCrypto"], swiftSettings: strict),
        .executableTarget(name: "fuzz-graph", dependencies: ["VaultErrors", "FuzzSupport", "VaultJSON", "Graph", "VaultHTTP", "VaultCrypto"], swiftSettings: strict),
        .executableTarget(name: "fuzz-identity-request", dependencies: ["VaultErrors", "FuzzSupport", "VaultJSON", "IdentityEndpoint", "VaultCrypto"], swiftSettings: strict),
        .executableTarget(name: "fuzz-json", dependencies: ["VaultErrors", "FuzzSupport", "VaultJSON", "VaultCrypto"], swiftSettings: strict),
        .executableTarget(name: "fuzz-retry-after", dependencies: ["FuzzSupport", "VaultJSON", "VaultHTTP"], swiftSettings: strict),
        .executableTarget(name: "fuzz-backend-json", dependencies: ["VaultErrors", "FuzzSupport", "VaultJSON", "FleetBackend", "VaultCrypto"], swiftSettings: strict),
        .executableTarget(name: "fuzz-user-input", dependencies: ["VaultErrors", "FuzzSupport", "VaultJSON", "EntraAuth", "Graph", "VaultCore", "VaultTokens", "VaultRotation", "VaultHTTP", "VaultCrypto", "VaultPKI"],
                          swiftSettings: strict),

        .target(
            name: "VaultTestSupport",
            dependencies: ["VaultErrors", "EntraEmulator", "VaultCrypto", "VaultHTTP"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "VaultStoreTests",
            dependencies: ["VaultErrors", "VaultCrypto", "VaultStore", "VaultFormat", "VaultRecords", "VaultSystem", "VaultTestSupport"],
            resources: [.copy("Vectors")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "PKITests",
            dependencies: ["VaultErrors", "VaultPKI", "VaultCrypto", "VaultTestSupport",
                           .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "_CryptoExtras", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "FleetBackendTests",
            dependencies: ["VaultCLI", "VaultErrors", "FleetBackend", "VaultHTTP", "VaultCrypto"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "IdentityEndpointTests",
            dependencies: ["VaultErrors", "IdentityEndpoint", "VaultCrypto", "VaultCore", "VaultTokens", "VaultRotation", "VaultStore", "VaultFormat", "VaultRecords"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "VaultCLITests",
            dependencies: ["VaultCLI", "VaultErrors", "VaultTestSupport", "VaultStore", "VaultFormat", "VaultRecords", "VaultCrypto"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TokenTests",
            dependencies: ["VaultCLI", "VaultErrors", "VaultTestSupport", "EntraAuth", "VaultHTTP", "VaultCrypto", "VaultStore", "VaultFormat", "VaultRecords", "EntraEmulator", "VaultPKI"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "VaultJSONTests",
            dependencies: ["VaultErrors", "VaultJSON", "VaultCrypto"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "GraphTests",
            dependencies: ["VaultCLI", "VaultErrors", "VaultTestSupport", "Graph", "VaultHTTP", "VaultCrypto", "VaultJSON", "EntraEmulator"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RotationTests",
            dependencies: ["VaultErrors", "VaultTestSupport", "EntraEmulator", "VaultStore", "VaultFormat", "VaultRecords", "VaultCrypto", "VaultCore", "VaultTokens", "VaultRotation", "Graph", "EntraAuth",
                           "VaultPKI", "VaultHTTP"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "VaultCoreTests",
            dependencies: ["VaultErrors", "VaultCore", "VaultTokens", "Graph", "VaultCrypto", "EntraAuth", "VaultStore"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EntraEmulatorTests",
            dependencies: ["VaultErrors", "EntraEmulator", "EmulatorDirectory", "VaultTestSupport", "VaultHTTP", "VaultCrypto", "Graph",
                           .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "_CryptoExtras", package: "swift-crypto"),
                           .product(name: "X509", package: "swift-certificates"),
                           .product(name: "SwiftASN1", package: "swift-asn1"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl")],
            swiftSettings: strict
        ),
    ]
)
