import EntraEmulator
import Foundation
import VaultCrypto
import VaultHTTP

/// A vault-emulator process over HTTPS on a free port, with admin helpers that go through libcurl.
///
/// Tests use the process, not the in-process library: tests that block on child processes would otherwise starve
/// the emulator's tasks of the (two-thread) cooperative pool. `EntraEmulatorTests` covers the in-process API.
public final class EmulatorHarness: @unchecked Sendable {
    public let info: EmulatorInfo
    public let state: TemporaryDirectory
    public let http: CurlTransport
    let process: Process

    public var base: String { info.authorityHost }
    public var caPath: String { info.ca ?? "" }
    public var app: EmulatorInfo.App { info.apps[0] }

    /// Starts `vault-emulator` with `config` and waits for its `emulator.json`.
    public static func start(_ config: EmulatorConfig = EmulatorConfig(users: 60), https: Bool = true) throws -> EmulatorHarness {
        let dir = TemporaryDirectory("emulator")
        let configPath = dir.write("config.json", try JSONEncoder().encode(config))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: VaultRunner.emulatorPath)
        process.arguments = ["--config", configPath, "--state-dir", dir.file("state")] + (https ? [] : ["--http"])
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        process.standardInput = Pipe()
        try process.run()
        let infoPath = dir.file("state/emulator.json")
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: infoPath) {
            guard process.isRunning, Date() < deadline else {
                kill(process.processIdentifier, SIGKILL)
                throw HarnessError(message: "vault-emulator did not start")
            }
            usleep(10_000)
        }
        let info = try JSONDecoder().decode(EmulatorInfo.self, from: Data(contentsOf: URL(fileURLWithPath: infoPath)))
        return try EmulatorHarness(info: info, state: dir, process: process)
    }

    init(info: EmulatorInfo, state: TemporaryDirectory, process: Process) throws {
        self.info = info
        self.state = state
        self.process = process
        http = try CurlTransport(options: HTTPOptions(caBundle: info.ca))
    }

    /// Stops the emulator (SIGKILL: see swift-linux-notes.md on SIGTERM in test children).
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }

    /// Calls the admin surface; returns the decoded JSON object.
    @discardableResult
    public func admin(_ method: String, _ path: String, _ body: [String: Any]? = nil) throws -> [String: Any] {
        var data: SecretBytes?
        if let body {
            var bytes = Array(try JSONSerialization.data(withJSONObject: body))
            data = SecretBytes(consuming: &bytes)
        }
        let r = try http.send(HTTPRequest(method: method, url: info.admin + path, headers: [("Content-Type", "application/json")], body: data))
        guard r.status == 200 else { throw HarnessError(message: "admin \(method) \(path): \(r.status) \(r.bodyText)") }
        return (try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]) ?? [:]
    }

    public func counters() throws -> [String: Any] { try admin("GET", "/counters") }

    /// Token requests made by `clientID` (default: the first app), every grant.
    public func tokenRequests(_ clientID: String? = nil) throws -> Int {
        let all = try counters()["token_requests"] as? [String: [String: Int]] ?? [:]
        return all[clientID ?? app.clientID]?.values.reduce(0, +) ?? 0
    }

    /// Requests that reached the token endpoint path (including faulted and failed ones), from the request log.
    public func tokenEndpointHits(status: Int? = nil) throws -> Int {
        let log = try admin("GET", "/log")["requests"] as? [[String: Any]] ?? []
        return log.filter { ($0["path"] as? String)?.hasSuffix("/oauth2/v2.0/token") == true && (status == nil || $0["status"] as? Int == status) }.count
    }

    public func graphRequests(_ path: String) throws -> Int {
        (try counters()["graph_requests"] as? [String: Int])?[path] ?? 0
    }

    public func fault(_ path: String, _ mode: String, count: Int, retryAfter: String? = nil, stallSeconds: Double? = nil) throws {
        var body: [String: Any] = ["path": path, "mode": mode, "count": count]
        if let retryAfter { body["retry_after"] = retryAfter }
        if let stallSeconds { body["stall_seconds"] = stallSeconds }
        try admin("POST", "/faults", body)
    }

    public func appState(_ clientID: String? = nil) throws -> [String: Any] { try admin("GET", "/apps/\(clientID ?? app.clientID)") }

    /// Sends a request to the emulator (Entra or Graph side) and returns the raw response.
    public func send(_ method: String, _ path: String, headers: [(String, String)] = [], body: String? = nil) throws -> HTTPResponse {
        var data: SecretBytes?
        if let body { var b = Array(body.utf8); data = SecretBytes(consuming: &b) }
        return try http.send(HTTPRequest(method: method, url: base + path, headers: headers, body: data))
    }

    public struct HarnessError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
        public init(message: String) { self.message = message }
    }
}

/// A vault wired to an emulator: key-file unlock, the emulator's app stored, its CA trusted.
public final class EmulatorVault: @unchecked Sendable {
    public let emulator: EmulatorHarness
    public let dir = TemporaryDirectory("vault-e2e")
    public var vaultPath: String { dir.file("vault") }
    public var keyFile: String { dir.file("key") }

    public init(emulator: EmulatorHarness, appName: String = "demo", secret: String? = nil, clientID: String? = nil,
                tenant: String? = nil) throws {
        self.emulator = emulator
        let r = try VaultRunner.run(["init", "--vault", vaultPath, "--key-file", keyFile])
        guard r.status == 0 else { throw EmulatorHarness.HarnessError(message: r.stderr) }
        try addApp(appName, secret: secret, clientID: clientID, tenant: tenant)
    }

    public func addApp(_ name: String, secret: String? = nil, clientID: String? = nil, tenant: String? = nil) throws {
        let r = try run(["add-app", name, "--tenant", tenant ?? emulator.info.tenantID, "--client-id", clientID ?? emulator.app.clientID,
                         "--authority", emulator.base, "--graph", emulator.base,
                         "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default"], stdin: secret ?? emulator.app.secret ?? "")
        guard r.status == 0 else { throw EmulatorHarness.HarnessError(message: r.stderr) }
    }

    public var environment: [String: String] { ["VAULT_DIR": vaultPath, "VAULT_KEY_FILE": keyFile, "VAULT_CA_BUNDLE": emulator.caPath] }

    public func run(_ args: [String], stdin: String? = nil, env: [String: String] = [:]) throws -> RunResult {
        try VaultRunner.run(args, stdin: stdin.map { Data($0.utf8) }, environment: environment.merging(env) { $1 })
    }

    public func secretsBytes() -> Data? { FileManager.default.contents(atPath: vaultPath + "/vault.db") }
}
