import EntraEmulator
import Foundation
import Synchronization
import Testing
import VaultTestSupport

/// Keeps `concurrency` `vault token APP` processes running until stopped; collects their exit statuses.
final class TokenLoad: @unchecked Sendable {
    // @unchecked: `statuses` and `running` are guarded by `lock`; the thread is joined through `done`.
    private let lock = NSLock()
    private var statuses: [Int32] = []
    private var running = true
    private let done = DispatchSemaphore(value: 0)

    init(_ v: EmulatorVault, app: String = "demo", concurrency: Int) {
        let env = v.environment
        Thread.detachNewThread { [self] in
            var live: [Process] = []
            while lock.withLock({ running }) {
                live.removeAll { p in
                    guard !p.isRunning else { return false }
                    p.waitUntilExit()
                    lock.withLock { statuses.append(p.terminationStatus) }
                    return true
                }
                while live.count < concurrency, let p = try? VaultRunner.start(["token", app], environment: env) { live.append(p) }
                usleep(5000)
            }
            for p in live {
                p.waitUntilExit()
                lock.withLock { statuses.append(p.terminationStatus) }
            }
            done.signal()
        }
    }

    /// Stops starting processes, waits for the running ones, returns every exit status.
    func stop() -> [Int32] {
        lock.withLock { running = false }
        done.wait()
        return lock.withLock { statuses }
    }
}

@Suite("rotation under concurrency, many tenants and replication lag", .timeLimit(.minutes(10)))
struct RotationConcurrencyTests {
    static let tokenPath = "/oauth2/v2.0/token"

    struct FaultPattern: CustomTestStringConvertible, Sendable {
        var name: String
        var mode: String?
        var count = 0
        var stall: Double?
        /// The proof fails, so the rotation must roll back.
        var proofFails = false
        var testDescription: String { name }
    }

    static let patterns: [FaultPattern] = [
        FaultPattern(name: "no fault"),
        FaultPattern(name: "two 503s on the token endpoint", mode: "503", count: 2),
        FaultPattern(name: "two 3 s stalls on the token endpoint", mode: "stall", count: 2, stall: 3),
        FaultPattern(name: "503s until the proof fails", mode: "503", count: 8, proofFails: true),
    ]

    @Test("rotate-secret while 20 vault token processes loop: one password, the stored one, no journal", arguments: patterns)
    func rotateUnderTokenLoad(_ pattern: FaultPattern) throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 5, propagationDelay: 2))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        #expect(try v.run(["token", "demo"]).status == 0)
        let oldKey = try #require(try RotationCheck(emu: emu, v: v).passwords().first?["key_id"] as? String)
        if let mode = pattern.mode { try emu.fault(Self.tokenPath, mode, count: pattern.count, stallSeconds: pattern.stall) }
        let load = TokenLoad(v, concurrency: 20)
        let r = try v.run(["rotate-secret", "demo", "--lag-window", "2"])
        let statuses = load.stop()
        try emu.admin("DELETE", "/faults")
        if pattern.proofFails {
            #expect(r.status == 75, "\(r.stderr)")
            #expect(r.stderr.contains("the new secret did not work"), "\(r.stderr)")
            #expect(try RotationCheck(emu: emu, v: v).passwords().map { $0["key_id"] as? String } == [oldKey])
        } else {
            #expect(r.status == 0, "\(r.stderr)")
            #expect(!(try RotationCheck(emu: emu, v: v).passwords().contains { $0["key_id"] as? String == oldKey }))
        }
        try RotationCheck(emu: emu, v: v).consistent(pattern.name)
        #expect(statuses.count >= 20)
        // A token command may be unlucky with an injected 503 (exit 75), never refused a secret (77) or broken.
        #expect(statuses.allSatisfy { $0 == 0 || $0 == 75 }, "\(pattern.name): token exit statuses \(Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count))")
        if pattern.mode == nil { #expect(statuses.allSatisfy { $0 == 0 }) }
    }

    @Test("two rotate-secret runs started together: one rotates, the other refuses; one password remains")
    func twoRotators() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 5, propagationDelay: 3))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        let results = Mutex<[RunResult]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            if let r = try? v.run(["rotate-secret", "demo", "--lag-window", "1"]) { results.withLock { $0.append(r) } }
        }
        let all = results.withLock { $0 }
        #expect(all.count == 2)
        #expect(all.filter { $0.status == 0 }.count == 1, "\(all.map { "\($0.status) \($0.stderr)" })")
        let refused = try #require(all.first { $0.status != 0 })
        #expect(refused.status == 75)
        #expect(refused.stderr.contains("vault: error: another vault process is rotating the secret of 'demo' right now"), "\(refused.stderr)")
        try RotationCheck(emu: emu, v: v).consistent("two rotators")
    }

    @Test("SIGKILL the rotator at random moments while token processes run (VAULT_KILL_LOOP_ROTATION, default 30)")
    func killLoopUnderLoad() throws {
        let iterations = Int(ProcessInfo.processInfo.environment["VAULT_KILL_LOOP_ROTATION"] ?? "") ?? 30
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 5))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        var generator = SystemRandomNumberGenerator()
        var tokenFailures: [Int32] = []
        for i in 0..<iterations {
            let load = TokenLoad(v, concurrency: 4)
            let p = try VaultRunner.start(["rotate-secret", "demo", "--lag-window", "1"], environment: v.environment)
            usleep(UInt32.random(in: 0...400_000, using: &generator))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            usleep(UInt32.random(in: 0...100_000, using: &generator))
            tokenFailures += load.stop().filter { $0 != 0 }
            var resumed = try v.run(["rotate-secret", "demo", "--resume", "--lag-window", "1"])
            for _ in 0..<20 where resumed.status == 75 {
                usleep(200_000)
                resumed = try v.run(["rotate-secret", "demo", "--resume", "--lag-window", "1"])
            }
            #expect(resumed.status == 0, "iteration \(i): \(resumed.stderr)")
            try RotationCheck(emu: emu, v: v).consistent("iteration \(i)")
        }
        #expect(tokenFailures.isEmpty, "token commands failed during the kill loop: \(tokenFailures)")
        #expect(iterations >= 30)
    }

    static let contoso = EmulatorConfig.Tenant(id: "11111111-1111-1111-1111-111111111111", domain: "contoso.onmicrosoft.com")
    static let fabrikam = EmulatorConfig.Tenant(id: "44444444-4444-4444-4444-444444444444", domain: "fabrikam.onmicrosoft.com")

    static func tid(_ tokenJSON: Data) throws -> String? {
        let token = try #require((try JSONSerialization.jsonObject(with: tokenJSON) as? [String: Any])?["access_token"] as? String)
        var b64 = String(token.split(separator: ".")[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        let payload = try #require(Data(base64Encoded: b64))
        return (try JSONSerialization.jsonObject(with: payload) as? [String: Any])?["tid"] as? String
    }

    @Test("one client id in two tenants, both given as domains: each gets its own tenant's tokens and users")
    func twoTenants() throws {
        var app = EmulatorConfig.App(name: "multi", tenant: "contoso.onmicrosoft.com", clientID: "55555555-5555-5555-5555-555555555555",
                                     roles: ["User.Read.All", "Application.ReadWrite.OwnedBy"], ownsSelf: true)
        app.alsoIn = ["fabrikam.onmicrosoft.com"]
        var config = EmulatorConfig(tenants: [Self.contoso, Self.fabrikam], apps: [app], users: 7)
        config.seed = "two-tenants"
        let emu = try EmulatorHarness.start(config)
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu, appName: "c", tenant: "contoso.onmicrosoft.com")
        try v.addApp("f", tenant: "fabrikam.onmicrosoft.com")

        let c1 = try v.run(["token", "c", "--json"])
        #expect(c1.status == 0, "\(c1.stderr)")
        #expect(try Self.tid(c1.stdoutData) == Self.contoso.id)
        // Before tenants were part of the cache key, this was contoso's cached token.
        let f1 = try v.run(["token", "f", "--json"])
        #expect(f1.status == 0, "\(f1.stderr)")
        #expect(try Self.tid(f1.stdoutData) == Self.fabrikam.id)
        #expect(f1.stdout.contains("identity_provider"))
        for (name, tenant) in [("c", Self.contoso), ("f", Self.fabrikam)] {
            let again = try v.run(["token", name, "--json"])
            #expect(again.stdout.contains("\"token_source\" : \"cache\"") || again.stdout.contains("\"token_source\": \"cache\""), "\(again.stdout)")
            #expect(try Self.tid(again.stdoutData) == tenant.id)
            let users = try v.run(["run", "users", name, "--select", "userPrincipalName", "--output", "ndjson"])
            #expect(users.status == 0, "\(users.stderr)")
            let lines = users.stdout.split(separator: "\n")
            #expect(lines.count == 7)
            #expect(lines.allSatisfy { $0.contains("@\(tenant.domain)") }, "\(name): \(users.stdout)")
        }
        // Rotating through the home tenant stores the new secret for both entries of the registration.
        let r = try v.run(["rotate-secret", "c", "--lag-window", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("also stored the new secret for 'f'"), "\(r.stderr)")
        #expect(try v.run(["cache", "clear"]).status == 0)
        let f2 = try v.run(["token", "f", "--json"])
        #expect(f2.status == 0, "\(f2.stderr)")
        #expect(try Self.tid(f2.stdoutData) == Self.fabrikam.id)
        #expect((try emu.appState("55555555-5555-5555-5555-555555555555")["passwords"] as? [[String: Any]])?.count == 1)
    }

    @Test("replication lag 5 s and a proof that fails: the rollback leaves no valid password behind")
    func lagRollback() throws {
        var config = EmulatorConfig(users: 5)
        config.replicationLag = 5
        let emu = try EmulatorHarness.start(config)
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        let oldKey = try #require(try RotationCheck(emu: emu, v: v).passwords().first?["key_id"] as? String)
        #expect(try v.run(["token", "demo"]).status == 0)
        try emu.fault(Self.tokenPath, "503", count: 8)
        let r = try v.run(["rotate-secret", "demo", "--lag-window", "8"])
        try emu.admin("DELETE", "/faults")
        #expect(r.status == 75, "\(r.stderr)")
        #expect(r.stderr.contains("it was removed and the old one kept"), "\(r.stderr)")
        #expect(try RotationCheck(emu: emu, v: v).passwords().map { $0["key_id"] as? String } == [oldKey])
        try RotationCheck(emu: emu, v: v).consistent("lag rollback")
    }

    @Test("a 504 after addPassword committed: never retried, the unjournaled password is found and removed", arguments: [400, 404])
    func ambiguousAdd(_ notFoundStatus: Int) throws {
        var config = EmulatorConfig(users: 5)
        config.replicationLag = 5
        let emu = try EmulatorHarness.start(config)
        defer { emu.stop() }
        try emu.admin("POST", "/settings", ["not_found_status": notFoundStatus])
        let v = try EmulatorVault(emulator: emu)
        let oldKey = try #require(try RotationCheck(emu: emu, v: v).passwords().first?["key_id"] as? String)
        try emu.admin("POST", "/reset")
        try emu.fault("/addPassword", "504-after", count: 1)
        let r = try v.run(["rotate-secret", "demo", "--lag-window", "8"])
        #expect(r.status == 75, "\(r.stderr)")
        #expect(r.stderr.contains("any password it created was removed"), "\(r.stderr)")
        let adds = (try emu.admin("GET", "/log")["requests"] as? [[String: Any]] ?? []).filter { ($0["path"] as? String)?.hasSuffix("/addPassword") == true }
        #expect(adds.count == 1, "addPassword must not be retried: \(adds)")
        #expect(try RotationCheck(emu: emu, v: v).passwords().map { $0["key_id"] as? String } == [oldKey])
        try RotationCheck(emu: emu, v: v).consistent("504 after add")
    }

    @Test("Entra's plain-text 429 with Retry-After: 60: a clear throttling error, exit 75, nothing changed")
    func throttled() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 5))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        let before = v.dir.snapshot("vault").filter { !$0.key.hasSuffix(".lock") }
        try emu.fault(Self.tokenPath, "429text", count: 1, retryAfter: "60")
        let r = try v.run(["token", "demo"])
        #expect(r.status == 75)
        #expect(r.stderr.contains("vault: error: throttled by Entra ID"), "\(r.stderr)")
        #expect(r.stderr.contains("asks to wait 60 s"), "\(r.stderr)")
        #expect(!r.stderr.contains("proxy"))
        #expect(v.dir.snapshot("vault").filter { !$0.key.hasSuffix(".lock") } == before)
        // A wait within --max-wait is honoured.
        try emu.fault(Self.tokenPath, "429text", count: 1, retryAfter: "1")
        let waited = try v.run(["token", "demo"])
        #expect(waited.status == 0, "\(waited.stderr)")
    }
}
