import EmulatorDirectory
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle
import HummingbirdCore
import UnixSignals

/// Options of a running emulator.
public struct EmulatorOptions: Sendable {
    public var port: Int
    public var stateDirectory: String
    public var https: Bool
    public init(port: Int = 0, stateDirectory: String, https: Bool = true) {
        self.port = port
        self.stateDirectory = stateDirectory
        self.https = https
    }
}

/// The connection facts written to `STATE_DIR/emulator.json`.
public struct EmulatorInfo: Codable, Sendable {
    public struct App: Codable, Sendable {
        public var name: String
        public var clientID: String
        public var objectID: String
        public var secret: String?
        public var roles: [String]
        enum CodingKeys: String, CodingKey { case name, clientID = "client_id", objectID = "object_id", secret, roles }
    }
    public var authorityHost: String
    public var graph: String
    public var ca: String?
    public var tenantID: String
    public var tenantDomain: String
    public var admin: String
    public var port: Int
    public var apps: [App]

    enum CodingKeys: String, CodingKey {
        case authorityHost = "authority_host", graph, ca, tenantID = "tenant_id", tenantDomain = "tenant_domain", admin, port, apps
    }
}

/// A running emulator (in-process). `stop()` shuts it down gracefully.
public final class RunningEmulator: Sendable {
    public let info: EmulatorInfo
    public let port: Int
    private let task: Task<Void, any Error>

    init(info: EmulatorInfo, port: Int, task: Task<Void, any Error>) {
        self.info = info
        self.port = port
        self.task = task
    }

    public var baseURL: String { info.authorityHost }

    public func stop() async {
        task.cancel()
        _ = await task.result
    }

    /// Waits until the server stops (for the executable).
    public func wait() async throws { try await task.value }
}

public enum Emulator {
    /// Builds the emulator from `config`, binds 127.0.0.1:`options.port` (0 = any free port), writes `ca.pem`
    /// (HTTPS) and `emulator.json` into the state directory, and returns once it is listening.
    public static func start(config: EmulatorConfig, options: EmulatorOptions, signals: [UnixSignal] = []) async throws -> RunningEmulator {
        let core = try EmulatorCore.build(config)
        try FileManager.default.createDirectory(atPath: options.stateDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        var caPath: String?
        let server: HTTPServerBuilder
        if options.https {
            let tls = try TLSMaterial.make()
            let path = options.stateDirectory + "/ca.pem"
            try writePrivate(path, Data(tls.caPEM.utf8), mode: 0o644)
            caPath = path
            server = try .tls(.http1(), tlsConfiguration: try tls.serverConfiguration())
        } else {
            server = .http1()
        }
        var logger = Logger(label: "vault-emulator")
        // In-process emulators are stopped by cancellation, which the server reports as errors: keep those quiet.
        logger.logLevel = signals.isEmpty ? .critical : .warning
        let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            responder: EmulatorResponder(core: core),
            server: server,
            configuration: .init(address: .hostname("127.0.0.1", port: options.port), serverName: "vault-emulator"),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger)
        let task = Task {
            defer { portContinuation.finish() }
            try await app.runService(gracefulShutdownSignals: signals)
        }
        var port = 0
        for await p in portStream { port = p }
        guard port > 0 else {
            task.cancel()
            _ = await task.result
            throw EmulatorError("could not listen on 127.0.0.1:\(options.port)")
        }
        let base = "\(options.https ? "https" : "http")://127.0.0.1:\(port)"
        core.setBase(base)
        let apps = await core.state.allApps()
        let info = EmulatorInfo(
            authorityHost: base, graph: base, ca: caPath, tenantID: core.tenants[0].id, tenantDomain: core.tenants[0].domain,
            admin: base + "/_emulator", port: port,
            apps: apps.map { .init(name: $0.name, clientID: $0.clientID, objectID: $0.objectID, secret: $0.passwords.last?.secret, roles: $0.roles) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try writePrivate(options.stateDirectory + "/emulator.json", try encoder.encode(info), mode: 0o600)
        return RunningEmulator(info: info, port: port, task: task)
    }

    /// Writes a file atomically with `mode` (temp + rename).
    static func writePrivate(_ path: String, _ data: Data, mode: Int) throws {
        let temp = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temp, contents: nil, attributes: [.posixPermissions: mode]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temp])
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temp))
        try handle.write(contentsOf: data)
        try handle.synchronize()
        try handle.close()
        guard rename(temp, path) == 0 else { throw EmulatorError("cannot write \(path)") }
    }
}
