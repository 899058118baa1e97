import Foundation
import Testing
import VaultCrypto
@testable import VaultStore
import VaultErrors
import VaultFormat
import VaultRecords
import VaultTestSupport

/// Revocation that revokes: slot changes replace the master key, so an old credential plus an old copy of the
/// files opens nothing written afterwards.
@Suite("Rekey and key-slot revocation")
struct RekeyTests {
    func makeVault(_ dir: TemporaryDirectory, _ credentials: [Credential]) throws -> Vault {
        let vault = Vault(directory: VaultDirectory(path: dir.file("v")))
        try vault.create(credentials: credentials, kdf: .minimum)
        try vault.update(credentials[0]) { try $0.contents.putApp(sampleApp("a"), secret: secret("s3cret-value")) }
        return vault
    }

    func bytes(_ vault: Vault) throws -> [UInt8] { try #require(try FileSystem.read(vault.directory.secretsPath)) }

    /// What an attacker holding `credential` and `oldCopy` can do with the current file: nothing, or the old master key
    /// would open it.
    func expectRevoked(_ credential: Credential, oldCopy: [UInt8], current: [UInt8]) throws {
        let (oldMaster, _) = try KeySlots.unlock(try VaultFile.decode(oldCopy), with: credential)
        let newFile = try VaultFile.decode(current)
        #expect(throws: VaultError.self, "the old master key opens the new body") { _ = try VaultCodec.open(newFile, master: oldMaster) }
        #expect(throws: VaultError.self, "the old credential opens the new file") { _ = try VaultCodec.unlockAndOpen(current, with: credential) }
        // Splicing the old slots into the new file does not help either: the body is sealed under the new key.
        var spliced = newFile
        spliced.slots = try VaultFile.decode(oldCopy).slots
        #expect(throws: VaultError.self, "old slots spliced into the new file open it") {
            _ = try VaultCodec.unlockAndOpen(spliced.encode(), with: credential)
        }
    }

    @Test("passwd rekeys: the old passphrase and an old copy of vault.db open nothing written after; contents kept")
    func passwdRekeys() throws {
        let dir = TemporaryDirectory()
        let vault = try makeVault(dir, [passphrase("old passphrase")])
        let oldCopy = try bytes(vault)
        let before = try vault.open(passphrase("old passphrase"))
        let outcome = try vault.changePassphrase(unlockingWith: passphrase("old passphrase"), to: secret("new passphrase"), kdf: .minimum)
        #expect(outcome == .rekeyed)
        let after = try vault.open(passphrase("new passphrase"))
        #expect(!after.master.constantTimeEquals(before.master))
        #expect(after.file.vaultID == before.file.vaultID)
        #expect(try after.contents.app(named: "a")?.secret?.prefixString(20) == "s3cret-value")
        try expectRevoked(passphrase("old passphrase"), oldCopy: oldCopy, current: try bytes(vault))
    }

    @Test("passwd with rekey .never only rewraps: the master key is unchanged (and the outcome says so)")
    func passwdRewrapOnly() throws {
        let dir = TemporaryDirectory()
        let vault = try makeVault(dir, [passphrase("old passphrase")])
        let before = try vault.open(passphrase("old passphrase"))
        let outcome = try vault.changePassphrase(unlockingWith: passphrase("old passphrase"), to: secret("new passphrase"), kdf: .minimum, rekey: .never)
        #expect(outcome == .rewrapped(missing: []))
        #expect(try vault.open(passphrase("new passphrase")).master.constantTimeEquals(before.master))
        #expect(throws: VaultError.self) { try vault.open(passphrase("old passphrase")) }
    }

    @Test("key remove with the other slot's credential at hand rekeys; the removed key file plus an old copy is useless")
    func removeRekeys() throws {
        let key = SecretBytes.random(count: 32)
        let dir = TemporaryDirectory()
        let vault = try makeVault(dir, [passphrase("passphrase-one"), .keyFile(key)])
        let keySlot = try vault.open(.keyFile(key)).file.slots.first { $0.kind == .keyFile }!.idHex
        let oldCopy = try bytes(vault)
        let outcome = try vault.removeSlot(unlockingWith: passphrase("passphrase-one"), slotID: keySlot)
        #expect(outcome == .rekeyed)
        try expectRevoked(.keyFile(key), oldCopy: oldCopy, current: try bytes(vault))
        #expect(try vault.open(passphrase("passphrase-one")).contents.app(named: "a") != nil)
    }

    @Test("key remove without a remaining slot's credential keeps the master key and names that slot")
    func removeWithoutCredential() throws {
        let k1 = SecretBytes.random(count: 32), k2 = SecretBytes.random(count: 32)
        let dir = TemporaryDirectory()
        let vault = try makeVault(dir, [passphrase("passphrase-one"), .keyFile(k1), .keyFile(k2)])
        let slots = try vault.open(.keyFile(k1)).file.slots
        let passSlot = slots.first { $0.kind == .passphrase }!.idHex
        let before = try vault.open(.keyFile(k1)).master
        let outcome = try vault.removeSlot(unlockingWith: .keyFile(k1), slotID: slots[2].idHex)
        #expect(outcome == .rewrapped(missing: [passSlot]))
        #expect(try vault.open(.keyFile(k1)).master.constantTimeEquals(before))
        // Given the passphrase as well, a rekey goes through and keeps both remaining ways in.
        try vault.rekey(unlockingWith: .keyFile(k1), available: [passphrase("passphrase-one")])
        let now = try vault.open(.keyFile(k1))
        #expect(!now.master.constantTimeEquals(before))
        #expect(now.file.slots.map(\.idHex) == [passSlot, slots[1].idHex], "slot ids and order are kept")
        #expect(try vault.open(passphrase("passphrase-one")).master.constantTimeEquals(now.master))
    }

    @Test("rekey with a slot's credential missing fails and leaves the file byte-identical")
    func rekeyRequiresAll() throws {
        let key = SecretBytes.random(count: 32)
        let dir = TemporaryDirectory()
        let vault = try makeVault(dir, [passphrase("passphrase-one"), .keyFile(key)])
        let before = try bytes(vault)
        let error = try #require(throws: VaultError.self) { try vault.rekey(unlockingWith: .keyFile(key), available: [passphrase("wrong one")]) }
        #expect(error.code == "rekey.credentials")
        #expect(try bytes(vault) == before)
    }

    @Test("a rekey deletes every token cache, and a process that opened the vault before it cannot write a cache after")
    func rekeyDropsTokenCache() throws {
        let dir = TemporaryDirectory()
        let vault = try makeVault(dir, [passphrase("passphrase-one")])
        let early = try TokenCacheStore(vault: try vault.open(passphrase("passphrase-one")), directory: vault.directory, app: "demo")
        let other = try TokenCacheStore(vault: try vault.open(passphrase("passphrase-one")), directory: vault.directory, app: "other")
        try early.withLock { try early.save(secret(#"{"AccessToken":{}}"#)) }
        try other.withLock { try other.save(secret(#"{"AccessToken":{}}"#)) }
        #expect(FileSystem.exists(early.path) && FileSystem.exists(other.path) && early.path != other.path)
        try vault.rekey(unlockingWith: passphrase("passphrase-one"), available: [])
        #expect(!FileSystem.exists(early.path) && !FileSystem.exists(other.path), "the caches sealed under the old key are gone")
        let error = try #require(throws: VaultError.self) { try early.withLock { try early.save(secret(#"{"AccessToken":{}}"#)) } }
        #expect(error.code == "cache.stale_key")
        #expect(!FileSystem.exists(early.path))
        let fresh = try TokenCacheStore(vault: try vault.open(passphrase("passphrase-one")), directory: vault.directory, app: "demo")
        #expect(fresh.path != early.path, "file names are keyed by the master key")
        try fresh.withLock { try fresh.save(secret(#"{"AccessToken":{}}"#)) }
        #expect(try fresh.load() != nil)
    }

    @Test("KDF work is capped over all slots before any derivation, whatever the credential")
    func totalKDFWork() throws {
        func slot(_ ops: UInt64, _ mem: UInt64) -> KeySlot {
            KeySlot(kind: .passphrase, id: Array(repeating: 1, count: 8), kdf: KDFParameters(opsLimit: ops, memLimit: mem),
                    salt: Array(repeating: 2, count: 16), nonce: Array(repeating: 3, count: 24), wrappedKey: Array(repeating: 4, count: 48))
        }
        func file(_ slots: [KeySlot]) -> [UInt8] {
            VaultFile(vaultID: Array(repeating: 9, count: 16), slots: slots, bodyNonce: Array(repeating: 5, count: 24),
                      sealedBody: Array(repeating: 6, count: 32)).encode()
        }
        // Each slot within the per-slot caps, together 8 × the most one slot may cost: refused by the cap check, which
        // runs before any derivation (a derivation would end in unlock.failed instead).
        let heavy = file(Array(repeating: slot(KDFParameters.maxOpsLimit, KDFParameters.maxMemLimit), count: 8))
        let e1 = try #require(throws: VaultError.self) { _ = try VaultCodec.unlockAndOpen(heavy, with: passphrase("anything")) }
        #expect(e1.code == "format.kdf_params")
        #expect(e1.reason.contains("together"))
        // A key-file unlock checks the passphrase slots too.
        let capped = file([slot(17, 64 << 20), KeySlot(kind: .keyFile, id: Array(repeating: 7, count: 8), kdf: nil, salt: [],
                                                       nonce: Array(repeating: 3, count: 24), wrappedKey: Array(repeating: 4, count: 48))])
        let e2 = try #require(throws: VaultError.self) { _ = try VaultCodec.unlockAndOpen(capped, with: .keyFile(SecretBytes.random(count: 32))) }
        #expect(e2.code == "format.kdf_params")
    }

    @Test("a writer never produces a file the reader refuses: too many records is an error, and nothing is written")
    func writerLimits() throws {
        let dir = TemporaryDirectory()
        let vault = try makeVault(dir, [passphrase("passphrase-one")])
        let before = try bytes(vault)
        let error = try #require(throws: VaultError.self) {
            try vault.update(passphrase("passphrase-one")) { v in
                v.contents = VaultContents(records: (0...RecordCodec.maxRecords).map { StoredRecord(kind: "note", name: "n\($0)", metadata: [], secrets: [:]) })
            }
        }
        #expect(error.code == "vault.full")
        #expect(try bytes(vault) == before)
    }
}
