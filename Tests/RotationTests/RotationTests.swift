import EntraEmulator
import Foundation
import Testing
import VaultTestSupport

/// Checks of what a user relies on after any rotation: one working secret stored, the app's password list holding
/// exactly that one (no orphan), tokens and Graph calls working.
struct RotationCheck {
    let emu: EmulatorHarness
    let v: EmulatorVault

    func passwords() throws -> [[String: Any]] { try emu.appState()["passwords"] as? [[String: Any]] ?? [] }

    func stored() throws -> [String: Any] {
        let r = try v.run(["show", "demo", "--json"])
        return try #require(try JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any])
    }

    /// The stored secret works with a fresh token (cache cleared), and the app has exactly one password, the stored one.
    func consistent(_ context: String) throws {
        #expect(try v.run(["cache", "clear"]).status == 0)
        let token = try v.run(["token", "demo", "--json"])
        #expect(token.status == 0, "\(context): stored secret does not work: \(token.stderr)")
        let list = try passwords()
        #expect(list.count == 1, "\(context): the app holds \(list.count) passwords: \(list)")
        let app = try stored()
        #expect(list.first?["hint"] as? String == app["secret_hint"] as? String, "\(context): stored hint differs from the app's password")
        if let keyID = app["secret_key_id"] as? String { #expect(list.first?["key_id"] as? String == keyID, "\(context)") }
        let journal = try v.run(["status", "demo"])
        #expect(!journal.stdout.contains("rotation pending"), "\(context): a journal is left")
    }
}

@Suite("vault rotate-secret against the emulator", .timeLimit(.minutes(8)))
struct RotationTests {
    func setUp(_ config: EmulatorConfig = EmulatorConfig(users: 20)) throws -> (EmulatorHarness, EmulatorVault) {
        let emu = try EmulatorHarness.start(config)
        return (emu, try EmulatorVault(emulator: emu))
    }

    @Test("a full rotation: one password left, the new one; vault token and run users work")
    func full() throws {
        let (emu, v) = try setUp()
        defer { emu.stop() }
        let oldKey = try #require(try RotationCheck(emu: emu, v: v).passwords().first?["key_id"] as? String)
        let r = try v.run(["rotate-secret", "demo", "--expires-in", "90d", "--display-name", "test rotation"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Rotated the secret of 'demo'"))
        #expect(r.stdout.contains("removed old: \(oldKey)"))
        let check = RotationCheck(emu: emu, v: v)
        try check.consistent("full rotation")
        let list = try check.passwords()
        #expect(list.first?["key_id"] as? String != oldKey)
        // The given display name, made unique with the rotation's journal id.
        #expect((list.first?["display_name"] as? String)?.hasPrefix("test rotation (vault ") == true, "\(list)")
        #expect(r.stdout.contains("new key id:  \(list.first?["key_id"] as? String ?? "?")"))
        let users = try v.run(["run", "users", "demo", "--output", "ndjson"])
        #expect(users.status == 0)
        #expect(users.stdout.split(separator: "\n").count == 20)
        // The new secret is never printed: Entra secrets carry "Q~" at position 4.
        #expect(!r.stdout.contains("Q~") && !r.stderr.contains("Q~"))
    }

    @Test("with a propagation delay: waits for the new secret, removes the old one only after the proof")
    func propagation() throws {
        let (emu, v) = try setUp(EmulatorConfig(users: 20, propagationDelay: 3))
        defer { emu.stop() }
        try emu.admin("POST", "/reset")
        let r = try v.run(["rotate-secret", "demo"])
        #expect(r.status == 0, "\(r.stderr)")
        let log = try emu.admin("GET", "/log")["requests"] as? [[String: Any]] ?? []
        let events = log.map { "\($0["method"] as? String ?? "") \(($0["path"] as? String ?? "").split(separator: "/").last ?? "") \($0["status"] as? Int ?? 0)" }
        let refused = try #require(events.firstIndex(of: "POST token 401"), "the new secret was tried during propagation: \(events)")
        let accepted = try #require(events[refused...].firstIndex(of: "POST token 200"))
        let removed = try #require(events.firstIndex { $0.hasPrefix("POST applications(appId='\(emu.app.clientID)')") && $0.contains("removePassword") } ?? events.firstIndex { $0.contains("removePassword") })
        #expect(removed > accepted, "removePassword came before the proof: \(events)")
        try RotationCheck(emu: emu, v: v).consistent("propagation")
    }

    static let steps = ["after-read", "after-journal", "after-add", "after-journal-added", "after-prove", "after-commit", "after-remove", "after-clear"]

    @Test("killed after each step, then recovered: one working secret, no orphan", arguments: steps)
    func crashAtStep(_ step: String) throws {
        let (emu, v) = try setUp()
        defer { emu.stop() }
        let crashed = try v.run(["rotate-secret", "demo"], env: ["VAULT_TEST_CRASH_AT": step])
        #expect(crashed.status != 0, "the hook must kill the process at \(step)")
        let resumed = try v.run(["rotate-secret", "demo", "--resume", "--lag-window", "1"])
        #expect(resumed.status == 0, "\(step): \(resumed.stderr)")
        try RotationCheck(emu: emu, v: v).consistent(step)
    }

    @Test("an interrupted rotation is finished by the next command that uses the app")
    func recoveredByToken() throws {
        let (emu, v) = try setUp()
        defer { emu.stop() }
        _ = try v.run(["rotate-secret", "demo"], env: ["VAULT_TEST_CRASH_AT": "after-prove"])
        let token = try v.run(["token", "demo"])
        #expect(token.status == 0, "\(token.stderr)")
        #expect(token.stderr.contains("vault: warning: finished an interrupted rotation of 'demo'"))
        try RotationCheck(emu: emu, v: v).consistent("recovered by vault token")
    }

    @Test("SIGKILL at random moments (VAULT_KILL_LOOP_ROTATION times, default 30): always recoverable")
    func killLoop() throws {
        let iterations = Int(ProcessInfo.processInfo.environment["VAULT_KILL_LOOP_ROTATION"] ?? "") ?? 30
        let (emu, v) = try setUp()
        defer { emu.stop() }
        var generator = SystemRandomNumberGenerator()
        for i in 0..<iterations {
            let p = try VaultRunner.start(["rotate-secret", "demo"], environment: v.environment)
            usleep(UInt32.random(in: 0...250_000, using: &generator))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let resumed = try v.run(["rotate-secret", "demo", "--resume", "--lag-window", "1"])
            #expect(resumed.status == 0, "iteration \(i): \(resumed.stderr)")
            try RotationCheck(emu: emu, v: v).consistent("iteration \(i)")
        }
        #expect(iterations >= 30)
    }

    @Test("403 on addPassword: a clear error, nothing changed in the vault or on the app")
    func forbiddenAdd() throws {
        let (emu, v) = try setUp()
        defer { emu.stop() }
        let before = try RotationCheck(emu: emu, v: v).passwords()
        let apps = try v.run(["list", "--json"]).stdout
        try emu.fault("/addPassword", "403", count: 1)
        let r = try v.run(["rotate-secret", "demo"])
        #expect(r.status == 77)
        #expect(r.stderr.contains("vault: error: Graph denied POST"), "\(r.stderr)")
        #expect(r.stderr.contains("vault: hint: grant the app Application.ReadWrite.OwnedBy"))
        #expect(try RotationCheck(emu: emu, v: v).passwords().map { $0["key_id"] as? String } == before.map { $0["key_id"] as? String })
        #expect(try v.run(["list", "--json"]).stdout == apps)
        #expect(!(try v.run(["status", "demo"]).stdout.contains("rotation pending")))
    }

    @Test("without the permission: refused before any change, the vault byte-identical")
    func noPermission() throws {
        let (emu, v) = try setUp()
        defer { emu.stop() }
        try emu.admin("POST", "/apps/\(emu.app.clientID)/roles", ["roles": ["User.Read.All"]])
        let before = v.dir.snapshot("vault").filter { !$0.key.hasSuffix(".lock") && !$0.key.hasPrefix("tokens") }
        let r = try v.run(["rotate-secret", "demo"])
        #expect(r.status == 77)
        #expect(r.stderr.contains("vault: error: app 'demo' cannot rotate its own secret"))
        #expect(r.stderr.contains("--manual"))
        #expect(v.dir.snapshot("vault").filter { !$0.key.hasSuffix(".lock") && !$0.key.hasPrefix("tokens") } == before)
        #expect(try RotationCheck(emu: emu, v: v).passwords().count == 1)
    }

    @Test("--manual: a secret that fails is refused and the old one kept; a working one is stored")
    func manual() throws {
        let (emu, v) = try setUp()
        defer { emu.stop() }
        let before = v.dir.snapshot("vault").filter { !$0.key.hasSuffix(".lock") && !$0.key.hasPrefix("tokens") }
        let bad = try v.run(["rotate-secret", "demo", "--manual", "--propagation-timeout", "0"], stdin: "Bad8Q~not-a-real-secret")
        #expect(bad.status == 77)
        #expect(bad.stderr.contains("vault: error: the new secret does not work, so it was not stored"))
        #expect(v.dir.snapshot("vault").filter { !$0.key.hasSuffix(".lock") && !$0.key.hasPrefix("tokens") } == before)
        #expect(try v.run(["token", "demo"]).status == 0)

        let added = try emu.graph("/v1.0/applications(appId='\(emu.app.clientID)')/addPassword", token: try emu.accessToken(), method: "POST", body: "{}")
        let secret = try #require(added.json["secretText"] as? String)
        let good = try v.run(["rotate-secret", "demo", "--manual"], stdin: secret)
        #expect(good.status == 0, "\(good.stderr)")
        #expect(!good.stdout.contains(secret))
        let show = try v.run(["show", "demo", "--json"])
        #expect((try JSONSerialization.jsonObject(with: show.stdoutData) as? [String: Any])?["secret_hint"] as? String == String(secret.prefix(3)))
        #expect(try v.run(["token", "demo", "--json"]).stdout.contains("identity_provider"), "cached tokens of the old secret were dropped")
    }

    @Test("rotating at the most verbose level logs no secret and no token")
    func verboseRotation() throws {
        let (emu, v) = try setUp()
        defer { emu.stop() }
        let r = try v.run(["rotate-secret", "demo", "-vv"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("/addPassword"))
        #expect(r.stderr.contains("\"secretText\":\"[REDACTED]\""))
        #expect(r.stderr.contains("client_secret=[REDACTED]"))
        // Entra secrets: 4 characters then "Q~"; tokens: three base64url parts starting "eyJ".
        #expect(r.stderr.range(of: #"[A-Za-z0-9._~-]{3}[A-Za-z0-9._~-]Q~[A-Za-z0-9._~-]{10}"#, options: .regularExpression) == nil)
        #expect(r.stderr.range(of: #"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\."#, options: .regularExpression) == nil)
        #expect(!r.stderr.contains(emu.app.secret!))
    }

    @Test("vault status exit codes: healthy 0, expiring soon 1, expired 2, rotation pending 3")
    func status() throws {
        let (emu, v) = try setUp()
        defer { emu.stop() }
        let healthy = try v.run(["status"])
        #expect(healthy.status == 0, "\(healthy.stdout)\(healthy.stderr)")
        #expect(healthy.stdout.contains("ok"))
        try emu.admin("POST", "/apps/\(emu.app.clientID)/set-secret-end", ["days": 10])
        let soon = try v.run(["status", "demo", "--json"])
        #expect(soon.status == 1)
        let row = try #require((try JSONSerialization.jsonObject(with: soon.stdoutData) as? [[String: Any]])?.first)
        #expect(row["status"] as? String == "expiring")
        #expect(row["days_left"] as? Int == 9)
        #expect(row["expiry_source"] as? String == "graph")
        #expect(try v.run(["status", "--warn-days", "5"]).status == 0)
        try emu.admin("POST", "/apps/\(emu.app.clientID)/set-secret-end", ["days": -1])
        #expect(try v.run(["status"]).status == 2)
        try emu.admin("POST", "/apps/\(emu.app.clientID)/set-secret-end", ["days": 300])
        _ = try v.run(["rotate-secret", "demo"], env: ["VAULT_TEST_CRASH_AT": "after-journal-added"])
        let pending = try v.run(["status"])
        #expect(pending.status == 3)
        #expect(pending.stdout.contains("rotation pending"))
    }
}
