import EntraEmulator
import Foundation
import Testing
import VaultTestSupport

/// `vault rekey`, `key remove` and `passwd` through the CLI, with a rotation pending: the journal's binding survives
/// the new master key, and the removed credential stops opening the vault.
@Suite("Rekey through the CLI", .timeLimit(.minutes(5)))
struct RekeyRotationTests {
    @Test("rekey with a rotation pending: the journal still binds, --resume finishes it, the cache was emptied")
    func rekeyKeepsJournal() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 5))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        #expect(try v.run(["token", "demo"]).status == 0)
        #expect(v.dir.tokenCacheFiles().count == 1)
        _ = try v.run(["rotate-secret", "demo"], env: ["VAULT_TEST_CRASH_AT": "after-prove"])
        let second = v.dir.file("second.key")
        #expect(try v.run(["key", "add-file", second]).status == 0)

        // Without the second key file, rekey refuses and changes nothing.
        let before = v.dir.snapshot("vault").filter { !$0.key.hasSuffix(".lock") }
        let refused = try v.run(["rekey"])
        #expect(refused.status == 64)
        #expect(refused.stderr.contains("vault: error: cannot rekey: the credential of key slot"), "\(refused.stderr)")
        #expect(v.dir.snapshot("vault").filter { !$0.key.hasSuffix(".lock") } == before)

        let rekeyed = try v.run(["rekey", "--with-key-file", second])
        #expect(rekeyed.status == 0, "\(rekeyed.stderr)")
        #expect(v.dir.tokenCacheFiles().isEmpty, "the cache sealed under the old key is deleted")
        let resumed = try v.run(["rotate-secret", "demo", "--resume", "--lag-window", "1"])
        #expect(resumed.status == 0, "the journal's fingerprints were rebound: \(resumed.stderr)")
        try RotationCheck(emu: emu, v: v).consistent("after rekey")
        #expect(try v.run(["token", "demo"], env: ["VAULT_KEY_FILE": second]).status == 0, "both slots open the rekeyed vault")
    }

    @Test("key remove rekeys: the removed key file plus an old copy of vault.db opens nothing written after")
    func keyRemoveRevokes() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 5))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        let leaving = v.dir.file("leaving.key")
        let added = try v.run(["key", "add-file", leaving])
        #expect(added.status == 0)
        let slot = try #require(added.stdout.split(separator: " ").dropFirst(3).first.map { String($0.prefix(16)) })
        let oldCopy = try Data(contentsOf: URL(fileURLWithPath: v.vaultPath + "/vault.db"))

        let removed = try v.run(["key", "remove", slot])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(removed.stdout.contains("Replaced the master key"), "\(removed.stdout)")
        // Adding an app afterwards: written under the new key only.
        #expect(try v.run(["token", "demo"]).status == 0)

        // The attacker's view: the old copy with the removed key still opens (it always will) ...
        let attacker = TemporaryDirectory("attacker")
        try FileManager.default.createDirectory(atPath: attacker.file("old"), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        _ = attacker.write("old/vault.db", oldCopy)
        #expect(try VaultRunner.run(["list", "--vault", attacker.file("old"), "--key-file", leaving]).status == 0)
        // ... but the current vault.db, next to the old one's header or not, does not.
        try FileManager.default.createDirectory(atPath: attacker.file("new"), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        _ = attacker.write("new/vault.db", try Data(contentsOf: URL(fileURLWithPath: v.vaultPath + "/vault.db")))
        let denied = try VaultRunner.run(["list", "--vault", attacker.file("new"), "--key-file", leaving])
        #expect(denied.status == 77)
        #expect(denied.stderr.contains("the key file does not unlock this vault"))
    }

    @Test("key remove without the other credentials keeps the master key and says how to finish")
    func keyRemoveWarns() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 5))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        let a = v.dir.file("a.key"), b = v.dir.file("b.key")
        #expect(try v.run(["key", "add-file", a]).status == 0)
        let addedB = try v.run(["key", "add-file", b])
        let slotB = try #require(addedB.stdout.split(separator: " ").dropFirst(3).first.map { String($0.prefix(16)) })
        let r = try v.run(["key", "remove", slotB])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("vault: warning: the master key was kept, because the credential of key slot"), "\(r.stderr)")
        #expect(r.stderr.contains("vault: hint: run `vault rekey"))
        let done = try v.run(["rekey", "--with-key-file", a])
        #expect(done.status == 0, "\(done.stderr)")
    }
}
