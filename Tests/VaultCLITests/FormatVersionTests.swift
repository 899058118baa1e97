import Foundation
import Testing
import VaultCrypto
import VaultStore
import VaultFormat
import VaultRecords
import VaultTestSupport

/// Format version 2 through the real binary: a version-1 vault is read as it is and migrated on its first write, even
/// when that write is killed; a damaged record stops every write but not reads of the other records.
@Suite("vault.db format versions, end to end", .timeLimit(.minutes(5)))
struct FormatVersionTests {
    static func key(_ v: CLIVault) throws -> Credential {
        var bytes = try #require(try FileSystem.read(v.keyFile))
        return .keyFile(SecretBytes(consuming: &bytes))
    }

    static func apps(_ names: [String]) throws -> VaultContents {
        var c = VaultContents()
        for name in names {
            var secret = Array("Xy8Q~\(name)-secret-0123456789".utf8)
            try c.putApp(AppMetadata(name: name, tenant: "contoso.onmicrosoft.com", clientID: "22222222-2222-2222-2222-222222222222",
                                     cloud: "global", authority: nil, secretHint: "Xy8", added: Date(timeIntervalSince1970: 1_800_000_000)),
                         secret: SecretBytes(consuming: &secret))
        }
        return c
    }

    /// Replaces the CLI vault's file with a version-1 file of the same key holding `names`.
    static func writeVersion1(_ v: CLIVault, names: [String]) throws -> [UInt8] {
        let bytes = try VaultCodec.create(credentials: [try key(v)], contents: try apps(names), kdf: .minimum, version: 1).bytes
        try FileSystem.writeAtomically(directory: v.vaultPath, name: "vault.db", bytes: bytes)
        return bytes
    }

    static func version(_ v: CLIVault) throws -> UInt8 {
        try VaultFile.decode(try #require(try FileSystem.read(v.vaultPath + "/vault.db"))).version
    }

    @Test("a version-1 vault: read without a write, migrated by the first write with every record kept")
    func migration() throws {
        let v = try CLIVault()
        let original = try Self.writeVersion1(v, names: ["alpha", "beta"])
        #expect(try v.appNames() == ["alpha", "beta"])
        #expect(try v.run(["show", "beta"]).status == 0)
        #expect(try FileSystem.read(v.vaultPath + "/vault.db") == original, "reading never rewrites")
        #expect(try v.addApp("gamma").status == 0)
        #expect(try Self.version(v) == 2)
        let opened = try VaultCodec.unlockAndOpen(try #require(try FileSystem.read(v.vaultPath + "/vault.db")), with: try Self.key(v))
        #expect(try opened.contents.apps.map(\.metadata.name) == ["alpha", "beta", "gamma"])
        #expect(try opened.contents.app(named: "beta")?.secret?.prefixString(64) == "Xy8Q~beta-secret-0123456789")
        let old = try VaultFile.decode(original)
        #expect(opened.file.vaultID == old.vaultID && opened.file.slots == old.slots, "same vault id, same key slots")
    }

    @Test("SIGKILL during the migrating write (VAULT_KILL_LOOP_MIGRATION, default 20): the version-1 file or the whole version-2 file")
    func migrationKillLoop() throws {
        let iterations = Int(ProcessInfo.processInfo.environment["VAULT_KILL_LOOP_MIGRATION"] ?? "") ?? 20
        let v = try CLIVault()
        let names = (0..<40).map { "app\($0)" }
        var generator = SystemRandomNumberGenerator()
        var migrated = 0
        for i in 0..<iterations {
            let original = try Self.writeVersion1(v, names: names)
            let p = try VaultRunner.start(["add-app", "new\(i)", "--tenant", "contoso.onmicrosoft.com",
                                           "--client-id", "22222222-2222-2222-2222-222222222222", "--vault", v.vaultPath,
                                           "--key-file", v.keyFile], stdin: Data(CLIVault.secret.utf8))
            usleep(UInt32.random(in: 0...120_000, using: &generator))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let now = try #require(try FileSystem.read(v.vaultPath + "/vault.db"))
            let listed = try v.appNames()
            if now == original {
                #expect(Set(listed) == Set(names), "iteration \(i)")
            } else {
                migrated += 1
                #expect(try Self.version(v) == 2, "iteration \(i): a changed file is a whole version-2 file")
                #expect(Set(listed) == Set(names + ["new\(i)"]), "iteration \(i): \(listed.count) apps")
            }
        }
        #expect(iterations >= 1)
        print("migration kill loop: \(iterations) iterations, \(migrated) completed writes")
    }

    @Test("a damaged record stops every write (nothing changes) while the other records still read")
    func damagedRecord() throws {
        let v = try CLIVault()
        #expect(try v.addApp("first").status == 0)
        #expect(try v.addApp("second").status == 0)
        var bytes = try #require(try FileSystem.read(v.vaultPath + "/vault.db"))
        let vault = try VaultCodec.unlockAndOpen(bytes, with: try Self.key(v))
        let layout = try VaultCodec.layout(of: bytes, master: vault.master)
        let second = try #require(layout.names.firstIndex { $0.name == "second" })
        bytes[layout.records[second].lowerBound + 7] ^= 0x20
        try FileSystem.writeAtomically(directory: v.vaultPath, name: "vault.db", bytes: bytes)

        let show = try v.run(["show", "first"])
        #expect(show.status == 0, "the undamaged record reads: \(show.stderr)")
        let list = try v.run(["list"])
        #expect(list.status == 65 && list.stderr.contains("vault: error: the vault file is damaged"), "\(list.stderr)")
        for args in [["add-app", "third", "--tenant", "contoso.onmicrosoft.com", "--client-id", "22222222-2222-2222-2222-222222222222"],
                     ["remove", "first", "--yes"]] {
            let r = try v.run(args, stdin: CLIVault.secret)
            #expect(r.status == 65, "\(args[0]): \(r.stderr)")
            #expect(r.stderr.contains("vault: error: the vault file is damaged"), "\(args[0]): \(r.stderr)")
            #expect(r.stderr.contains("vault: hint: restore the vault directory from a backup"))
            #expect(try FileSystem.read(v.vaultPath + "/vault.db") == bytes, "\(args[0]) changed the file")
        }
    }

    @Test("hundreds of apps: one is found and opened without the others, and a write keeps the others' sealed bytes")
    func carriedRecords() throws {
        let v = try CLIVault()
        let names = (0..<300).map { "svc-\($0)" }
        let key = try Self.key(v)
        let made = try VaultCodec.create(credentials: [key], contents: try Self.apps(names), kdf: .minimum)
        try FileSystem.writeAtomically(directory: v.vaultPath, name: "vault.db", bytes: made.bytes)
        let before = try VaultCodec.layout(of: made.bytes, master: made.master)
        #expect(try v.run(["show", "svc-299", "--json"]).stdout.contains("\"svc-299\""))
        #expect(try v.addApp("svc-new").status == 0)
        let after = try #require(try FileSystem.read(v.vaultPath + "/vault.db"))
        let layout = try VaultCodec.layout(of: after, master: made.master)
        #expect(layout.records.count == 301)
        for i in [0, 150, 299] {
            #expect(Array(made.bytes[before.records[i]]) == Array(after[layout.records[i]]), "record \(i) was carried over sealed")
        }
    }
}
