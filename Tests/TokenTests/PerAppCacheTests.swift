import EntraEmulator
import Foundation
import Testing
import VaultCrypto
import VaultStore
import VaultFormat
import VaultRecords
import VaultTestSupport

/// Format version 2's token caches: one file per app, single flight per app, and the version-1 `tokens.db` moved
/// into them by the first process that needs a token.
@Suite("per-app token caches against the emulator", .timeLimit(.minutes(5)))
struct PerAppCacheTests {
    static func open(_ v: EmulatorVault) throws -> UnlockedVault {
        var key = try #require(try FileSystem.read(v.keyFile))
        return try Vault(directory: VaultDirectory(path: v.vaultPath)).open(.keyFile(SecretBytes(consuming: &key)))
    }

    @Test("two apps, 16 processes each, all at once: one token request per app, one cache file per app")
    func singleFlightPerApp() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 10))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        try v.addApp("other")
        let runs = (0..<32).map { i in (app: i % 2 == 0 ? "demo" : "other", out: v.dir.file("out\(i)")) }
        let processes = try runs.map { run -> Process in
            #expect(FileManager.default.createFile(atPath: run.out, contents: nil))
            return try VaultRunner.start(["token", run.app], environment: v.environment, stdout: FileHandle(forWritingAtPath: run.out))
        }
        for p in processes { p.waitUntilExit() }
        #expect(processes.allSatisfy { $0.terminationStatus == 0 })
        for app in ["demo", "other"] {
            let tokens = Set(runs.filter { $0.app == app }.map { String(decoding: FileManager.default.contents(atPath: $0.out) ?? Data(), as: UTF8.self) })
            #expect(tokens.count == 1, "\(app): every process got the one token fetched for it")
        }
        #expect(try emu.tokenRequests() == 2, "one request per app, not one per process or one for the vault")
        let files = v.dir.tokenCacheFiles()
        #expect(files.count == 2)
        let unlocked = try Self.open(v)
        let caches = TokenCaches(vault: unlocked, directory: VaultDirectory(path: v.vaultPath))
        #expect(Set(try ["demo", "other"].map { try caches.store(app: $0).path }) == Set(files))
        // A cache file is named by its file id in lower-case hex (FORMAT.md), two digits a byte.
        for app in ["demo", "other"] {
            let id = try TokenCacheFile.fileID(app: app, master: unlocked.master)
            #expect(try caches.store(app: app).fileName == id.map { String(format: "%02x", $0) }.joined())
        }
        for path in files {
            #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
        }
        #expect(try FileManager.default.attributesOfItem(atPath: v.vaultPath + "/tokens")[.posixPermissions] as? Int == 0o700)
    }

    @Test("a version-1 tokens.db is moved into the per-app caches: the token is served from it, and the file is gone")
    func version1CacheMigrates() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 10))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        try v.addApp("idle")
        let first = try v.run(["token", "demo"])
        #expect(first.status == 0, "\(first.stderr)")
        // Turn the vault's cache back into what version 1 kept: one tokens.db for every app.
        let unlocked = try Self.open(v)
        let store = try TokenCaches(vault: unlocked, directory: VaultDirectory(path: v.vaultPath)).store(app: "demo")
        let plain = try #require(try store.load())
        let v1 = try TokenCacheFile.sealVersion1(plain, vaultID: unlocked.file.vaultID, master: unlocked.master)
        try FileSystem.writeAtomically(directory: v.vaultPath, name: "tokens.db", bytes: v1)
        try FileManager.default.removeItem(atPath: v.vaultPath + "/tokens")

        let again = try v.run(["token", "demo", "--json"])
        #expect(again.status == 0, "\(again.stderr)")
        let json = try JSONSerialization.jsonObject(with: again.stdoutData) as? [String: Any]
        #expect(json?["token_source"] as? String == "cache")
        #expect(json?["access_token"] as? String == first.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(try emu.tokenRequests() == 1)
        #expect(!FileManager.default.fileExists(atPath: v.vaultPath + "/tokens.db"), "tokens.db is gone once moved")
        // `idle` shares demo's client id, so (as in version 1, where both read one cache) it receives the token too.
        #expect(v.dir.tokenCacheFiles().contains(store.path))
    }

    @Test("a cache file of one app copied over another's is refused (its AD names the app), and a token is fetched")
    func swappedCacheFile() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 10))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        try v.addApp("other")
        #expect(try v.run(["token", "demo"]).status == 0)
        #expect(try v.run(["token", "other"]).status == 0)
        let caches = TokenCaches(vault: try Self.open(v), directory: VaultDirectory(path: v.vaultPath))
        let demo = try caches.store(app: "demo").path, other = try caches.store(app: "other").path
        try FileManager.default.removeItem(atPath: other)
        try FileManager.default.copyItem(atPath: demo, toPath: other)
        let r = try v.run(["token", "other", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("vault: warning: discarding the token cache"), "\(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any]
        #expect(json?["token_source"] as? String == "identity_provider")
        #expect(try emu.tokenRequests() == 3)
    }
}
