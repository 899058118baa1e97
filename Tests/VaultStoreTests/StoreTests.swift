import Foundation
import Testing
import VaultCrypto
import VaultErrors
import VaultStore
import VaultFormat
import VaultRecords
import VaultSystem
import VaultTestSupport

func passphrase(_ s: String) -> Credential { var b = Array(s.utf8); return .passphrase(SecretBytes(consuming: &b)) }
func secret(_ s: String) -> SecretBytes { var b = Array(s.utf8); return SecretBytes(consuming: &b) }

func sampleApp(_ name: String) -> AppMetadata {
    AppMetadata(name: name, tenant: "contoso.onmicrosoft.com", clientID: "22222222-2222-2222-2222-222222222222",
                cloud: "global", authority: nil, secretHint: "Abc", added: Date(timeIntervalSince1970: 1_767_225_600))
}

@Suite("Vault store")
struct StoreTests {
    @Test("create, add an app, reopen: the secret round-trips and is not in the file")
    func roundTrip() throws {
        let dir = TemporaryDirectory()
        let vault = Vault(directory: VaultDirectory(path: dir.file("v")))
        try vault.create(credentials: [passphrase("passphrase-one")], kdf: .minimum)
        try vault.update(passphrase("passphrase-one")) { v in
            try v.contents.putApp(sampleApp("a"), secret: secret("Abc8Q~the-secret-value-0123456789abcdefg"))
        }
        let opened = try vault.open(passphrase("passphrase-one"))
        let app = try #require(try opened.contents.app(named: "a"))
        #expect(app.secret?.prefixString(100) == "Abc8Q~the-secret-value-0123456789abcdefg")
        #expect(app.metadata == sampleApp("a"))
        let raw = try #require(FileManager.default.contents(atPath: vault.directory.secretsPath))
        #expect(raw.range(of: Data("the-secret-value".utf8)) == nil)
        #expect(raw.range(of: Data("contoso".utf8)) == nil, "metadata is encrypted too")
    }

    @Test("directory 0700 and files 0600 from creation")
    func permissions() throws {
        let dir = TemporaryDirectory()
        let vault = Vault(directory: VaultDirectory(path: dir.file("nested/v")))
        try vault.create(credentials: [passphrase("passphrase-one")], kdf: .minimum)
        #expect(FileSystem.status(dir.file("nested/v"))!.mode & 0o777 == 0o700)
        #expect(FileSystem.status(vault.directory.secretsPath)!.mode & 0o777 == 0o600)
        #expect(FileSystem.status(dir.file("nested/v/vault.lock"))!.mode & 0o777 == 0o600)
    }

    @Test("a vault readable by group or others is refused with a chmod hint", arguments: [0o750, 0o705, 0o755])
    func refusesOpenDirectory(mode: Int) throws {
        let dir = TemporaryDirectory()
        let vault = Vault(directory: VaultDirectory(path: dir.file("v")))
        try vault.create(credentials: [passphrase("passphrase-one")], kdf: .minimum)
        chmod(dir.file("v"), mode_t(mode))
        let error = try #require(throws: VaultError.self) { try vault.open(passphrase("passphrase-one")) }
        #expect(error.code == "vault.permissions")
        #expect(error.context["mode"] == "700" && error.context["path"] == dir.file("v"))
    }

    @Test("a secrets file readable by others is refused")
    func refusesOpenFile() throws {
        let dir = TemporaryDirectory()
        let vault = Vault(directory: VaultDirectory(path: dir.file("v")))
        try vault.create(credentials: [passphrase("passphrase-one")], kdf: .minimum)
        chmod(vault.directory.secretsPath, 0o644)
        let error = try #require(throws: VaultError.self) { try vault.open(passphrase("passphrase-one")) }
        #expect(error.context["mode"] == "600" && error.context["path"] == vault.directory.secretsPath)
    }

    @Test("changing the passphrase with rekey .never rewraps the master key only")
    func changePassphrase() throws {
        let dir = TemporaryDirectory()
        let vault = Vault(directory: VaultDirectory(path: dir.file("v")))
        try vault.create(credentials: [passphrase("old passphrase")], kdf: .minimum)
        try vault.update(passphrase("old passphrase")) { try $0.contents.putApp(sampleApp("a"), secret: secret("s3cret-value")) }
        let before = try vault.open(passphrase("old passphrase"))
        _ = try vault.changePassphrase(unlockingWith: passphrase("old passphrase"), to: secret("new passphrase"), kdf: .minimum, rekey: .never)
        #expect(throws: VaultError.self) { try vault.open(passphrase("old passphrase")) }
        let after = try vault.open(passphrase("new passphrase"))
        #expect(after.master.constantTimeEquals(before.master), "the master key (and so every data key) is unchanged")
        #expect(after.file.vaultID == before.file.vaultID)
        #expect(try after.contents.app(named: "a")?.secret?.prefixString(20) == "s3cret-value")
    }

    @Test("key-file slots: add, unlock with either, remove; the last slot cannot go")
    func slots() throws {
        let dir = TemporaryDirectory()
        let vault = Vault(directory: VaultDirectory(path: dir.file("v")))
        let key = SecretBytes.random(count: 32)
        try vault.create(credentials: [passphrase("passphrase-one")], kdf: .minimum)
        let id = try vault.addSlot(unlockingWith: passphrase("passphrase-one"), newCredential: .keyFile(key))
        let viaKey = try vault.open(.keyFile(key))
        #expect(viaKey.file.slots.count == 2)
        #expect(throws: VaultError.self) { try vault.open(.keyFile(SecretBytes.random(count: 32))) }
        let passSlot = viaKey.file.slots.first { $0.kind == .passphrase }!.idHex
        _ = try vault.removeSlot(unlockingWith: .keyFile(key), slotID: passSlot)
        #expect(throws: VaultError.self) { try vault.open(passphrase("passphrase-one")) }
        let error = try #require(throws: VaultError.self) { try vault.removeSlot(unlockingWith: .keyFile(key), slotID: id) }
        #expect(error.code == "slots.last")
    }

    @Test("a failed change leaves the file byte-identical")
    func failedUpdateWritesNothing() throws {
        let dir = TemporaryDirectory()
        let vault = Vault(directory: VaultDirectory(path: dir.file("v")))
        try vault.create(credentials: [passphrase("passphrase-one")], kdf: .minimum)
        let before = dir.snapshot("v")
        struct Abandon: Error {}
        #expect(throws: Abandon.self) {
            try vault.update(passphrase("passphrase-one")) { v in
                try v.contents.putApp(sampleApp("x"), secret: secret("abc"))
                throw Abandon()
            }
        }
        #expect(dir.snapshot("v") == before)
    }

    @Test("stale temp files of a killed writer are removed by the next writer")
    func staleTemporaries() throws {
        let dir = TemporaryDirectory()
        let vault = Vault(directory: VaultDirectory(path: dir.file("v")))
        try vault.create(credentials: [passphrase("passphrase-one")], kdf: .minimum)
        dir.write("v/.vault.db.tmp-99999-abc", Data("half a vault".utf8))
        try vault.update(passphrase("passphrase-one")) { try $0.contents.putApp(sampleApp("a"), secret: secret("x")) }
        #expect(!FileManager.default.fileExists(atPath: dir.file("v/.vault.db.tmp-99999-abc")))
    }

    @Test("the default Argon2id parameters are at least 64 MiB and 3 passes, and work")
    func defaultKDF() throws {
        #expect(KDFParameters.default.memLimit >= 64 << 20)
        #expect(KDFParameters.default.opsLimit >= 3)
        let key = try PasswordHash.deriveKey(passphrase: secret("pw"), salt: [UInt8](repeating: 7, count: 16), params: .default)
        #expect(key.count == 32)
    }

    @Test("subkeys for secrets and token cache differ and are stable")
    func subkeys() throws {
        let master = SecretBytes.random(count: 32)
        let a = try KeyDerivation.subkey(of: master, for: .secrets)
        let b = try KeyDerivation.subkey(of: master, for: .tokenCache)
        #expect(!a.constantTimeEquals(b))
        #expect(a.constantTimeEquals(try KeyDerivation.subkey(of: master, for: .secrets)))
    }

    @Test("process hardening: not dumpable, no core files")
    func hardening() {
        #expect(ProcessHardening.apply() == [])
        #expect(!ProcessHardening.isDumpable)
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_CORE.rawValue), &limit)
        #expect(limit.rlim_cur == 0)
    }
}
