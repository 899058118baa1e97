import EntraEmulator
import Foundation
import Testing
import VaultCrypto
import VaultStore
import VaultFormat
import VaultRecords
import VaultTestSupport

@Suite("a rotation journal is bound to the app it rotates", .timeLimit(.minutes(5)))
struct StaleJournalTests {
    static let otherClientID = "66666666-6666-6666-6666-666666666666"

    static func config() -> EmulatorConfig {
        EmulatorConfig(apps: [EmulatorConfig.demoApp,
                              EmulatorConfig.App(name: "zz-other", clientID: otherClientID, roles: ["User.Read.All"])], users: 5)
    }

    func otherSecret(_ emu: EmulatorHarness) throws -> String {
        try #require(emu.info.apps.first { $0.clientID == Self.otherClientID }?.secret)
    }

    @Test("crash after the proof: add-app --replace and --manual refuse; remove drops the journal; a new app under the name works")
    func removeThenReplace() throws {
        let emu = try EmulatorHarness.start(Self.config())
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        _ = try v.run(["rotate-secret", "demo"], env: ["VAULT_TEST_CRASH_AT": "after-prove"])
        let pending = try v.run(["status", "demo"])
        #expect(pending.status == 3)

        let before = v.dir.snapshot("vault").filter { !$0.key.hasSuffix(".lock") }
        let replace = try v.run(["add-app", "demo", "--tenant", emu.info.tenantID, "--client-id", Self.otherClientID,
                                 "--authority", emu.base, "--graph", emu.base, "--allow-custom-endpoint",
                                 "--scope", "https://graph.microsoft.com/.default", "--replace"], stdin: try otherSecret(emu))
        #expect(replace.status == 75)
        #expect(replace.stderr.contains("vault: error: a rotation of 'demo' is pending, so the app was not replaced"), "\(replace.stderr)")
        #expect(replace.stderr.contains("vault: hint: finish it with `vault rotate-secret demo --resume`"))
        let manual = try v.run(["rotate-secret", "demo", "--manual"], stdin: try otherSecret(emu))
        #expect(manual.status == 75, "\(manual.stderr)")
        #expect(manual.stderr.contains("is pending, so no secret was stored by hand"))
        #expect(v.dir.snapshot("vault").filter { !$0.key.hasSuffix(".lock") } == before)

        let newKey = try #require((try emu.appState()["passwords"] as? [[String: Any]])?.compactMap { $0["key_id"] as? String }.last)
        let removed = try v.run(["remove", "demo", "--yes"])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(removed.stdout.contains("Also dropped its pending rotation"))
        #expect(removed.stderr.contains("may still hold password \(newKey)"), "\(removed.stderr)")

        try v.addApp("demo", secret: try otherSecret(emu), clientID: Self.otherClientID)
        let token = try v.run(["token", "demo", "--json"])
        #expect(token.status == 0, "\(token.stderr)")
        #expect(!token.stderr.contains("rotation"), "the old journal must be gone: \(token.stderr)")
        let status = try v.run(["status", "demo"])
        #expect(!status.stdout.contains("rotation pending"))
        #expect(try emu.tokenRequests(Self.otherClientID) >= 1)
    }

    /// Replaces the stored app's client id and secret behind the journal's back, as a restored old vault.db would.
    func swapApp(_ v: EmulatorVault, clientID: String, secret: String) throws {
        let key = try FileSystem.readSecret(v.keyFile)
        let vault = Vault(directory: VaultDirectory(path: v.vaultPath))
        try vault.update(.keyFile(key)) { u in
            var meta = try #require(try u.contents.app(named: "demo")).metadata
            meta.clientID = clientID
            var bytes = Array(secret.utf8)
            try u.contents.putApp(meta, secret: SecretBytes(consuming: &bytes))
        }
    }

    @Test("a journal that no longer matches its app is refused, never committed, and can be abandoned")
    func staleRefused() throws {
        let emu = try EmulatorHarness.start(Self.config())
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        _ = try v.run(["rotate-secret", "demo"], env: ["VAULT_TEST_CRASH_AT": "after-prove"])
        try swapApp(v, clientID: Self.otherClientID, secret: try otherSecret(emu))
        let before = v.dir.snapshot("vault").filter { !$0.key.hasSuffix(".lock") && !$0.key.hasPrefix("tokens") }
        for args in [["token", "demo"], ["rotate-secret", "demo", "--resume"], ["run", "users", "demo"]] {
            let r = try v.run(args)
            #expect(r.status == 65, "\(args): \(r.stderr)")
            #expect(r.stderr.contains("vault: error: the pending rotation of 'demo' does not belong to the stored app"), "\(r.stderr)")
            #expect(r.stderr.contains("vault: hint: drop it with `vault rotate-secret demo --abandon`"))
        }
        #expect(v.dir.snapshot("vault").filter { !$0.key.hasSuffix(".lock") && !$0.key.hasPrefix("tokens") } == before)
        // (Apps sort by name: "vault-demo" is the harness's first app.) The demo app registration still has both passwords: nothing was committed or removed.
        #expect((try emu.appState()["passwords"] as? [[String: Any]])?.count == 2)
        let dropped = try v.run(["rotate-secret", "demo", "--abandon"])
        #expect(dropped.status == 0, "\(dropped.stderr)")
        #expect(dropped.stdout.contains("Dropped the pending rotation of 'demo'"))
        #expect(dropped.stderr.contains("may still hold password"))
        let token = try v.run(["token", "demo"])
        #expect(token.status == 0, "\(token.stderr)")
        #expect(!(try v.run(["status", "demo"]).stdout.contains("rotation pending")))
    }
}
