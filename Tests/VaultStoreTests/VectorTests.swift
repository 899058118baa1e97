import Foundation
import Testing
import VaultCrypto
import VaultErrors
import VaultStore
import VaultFormat
import VaultRecords
import VaultTestSupport

struct VectorEntry: Decodable, Sendable, CustomTestStringConvertible {
    var file: String
    var unlock: [String: String]
    var expect: String
    var apps: [String]?
    var note: String
    var testDescription: String { "\(file) → \(expect)" }
}

enum Vectors {
    static let directory = Bundle.module.resourceURL!.appendingPathComponent("Vectors")
    static let entries: [VectorEntry] = {
        let data = try! Data(contentsOf: directory.appendingPathComponent("manifest.json"))
        return try! JSONDecoder().decode([VectorEntry].self, from: data)
    }()

    static func credential(_ unlock: [String: String]) -> Credential {
        if let p = unlock["passphrase"] {
            var b = Array(p.utf8)
            return .passphrase(SecretBytes(consuming: &b))
        }
        let hex = unlock["key_file_hex"]!
        var bytes: [UInt8] = stride(from: 0, to: hex.count, by: 2).map {
            UInt8(hex[hex.index(hex.startIndex, offsetBy: $0)..<hex.index(hex.startIndex, offsetBy: $0 + 2)], radix: 16)!
        }
        return .keyFile(SecretBytes(consuming: &bytes))
    }
}

@Suite("Format test vectors (docs/FORMAT.md)")
struct VectorTests {
    @Test("every vector gives its labelled outcome", arguments: Vectors.entries)
    func vector(_ entry: VectorEntry) throws {
        let bytes = Array(try Data(contentsOf: Vectors.directory.appendingPathComponent(entry.file)))
        do {
            let vault = try VaultCodec.unlockAndOpen(bytes, with: Vectors.credential(entry.unlock))
            // Version 2 opens records when they are read: read them all before calling the file good.
            let apps = try vault.contents.apps.map(\.metadata.name)
            let records = try vault.contents.records
            #expect(entry.expect == "ok", "opened a vector labelled \(entry.expect)")
            #expect(apps == entry.apps)
            #expect(records.count == vault.contents.count)
            if entry.file.hasPrefix("v2-") {
                #expect(vault.file.version == 2)
                let journal = try #require(try vault.contents.record(kind: "rotation", name: "vector-app"))
                #expect(journal.secrets["new"]?.prefixString(40) == "Xy9Q~vectornewsecret")
            }
            let app = try #require(try vault.contents.app(named: "vector-app"))
            #expect(app.secret?.prefixString(40) == "Ab8Q~vectorsecret-vectorsecret-vectorsec")
            if let cert = try vault.contents.app(named: "vector-cert-app") {
                #expect(cert.secret == nil && cert.previous == nil)
                #expect(cert.certificateKey?.withUnsafeBytes { Array($0) } == Array("vector-certificate-key-pkcs8-der".utf8))
                #expect(cert.metadata.certificateSHA1 == "0123456789ABCDEF0123456789ABCDEF01234567" && cert.metadata.usesCertificate)
            }
            if let fed = try vault.contents.app(named: "vector-fed-app") {
                #expect(fed.secret == nil && fed.previous == nil && fed.certificateKey == nil)
                #expect(fed.metadata.federated == "file:/var/run/secrets/azure/tokens/azure-identity-token" && fed.metadata.secretHint.isEmpty)
            }
        } catch let error as VaultError {
            #expect(error.code.rawValue == entry.expect, "\(entry.file): \(error.reason)")
            #expect(!error.reason.isEmpty)
        }
        // The same outcome when the file is read with pread, one record at a time (what `vault token` does).
        let handle = try SecretsFile(path: Vectors.directory.appendingPathComponent(entry.file).path)
        do {
            let vault = try VaultCodec.unlockAndOpen(handle, with: Vectors.credential(entry.unlock))
            let names = vault.contents.names(kind: "app")
            for name in names { _ = try vault.contents.app(named: name) }
            _ = try vault.contents.records
            #expect(entry.expect == "ok", "read with pread, opened a vector labelled \(entry.expect)")
            #expect(names == entry.apps)
        } catch let error as VaultError {
            #expect(error.code.rawValue == entry.expect, "\(entry.file), read with pread: \(error.reason)")
        }
    }

    @Test("the manifest covers every failure the format promises")
    func coverage() {
        let outcomes = Set(Vectors.entries.map(\.expect))
        for needed in ["ok", "unlock.failed", "format.damaged", "format.truncated", "format.version", "format.kdf_params",
                       "format.empty", "format.magic", "format.trailing", "format.header", "format.length", "format.count",
                       "format.record", "format.utf8", "format.flags", "format.duplicate"] {
            #expect(outcomes.contains(needed), "no vector for \(needed)")
        }
    }

    @Test("the committed vectors are exactly what the generator writes", .timeLimit(.minutes(8)))
    func regenerate() throws {
        let dir = TemporaryDirectory("vectors")
        let result = try VaultRunner.run([dir.path], executable: VaultRunner.binDirectory + "/vault-vectors")
        #expect(result.status == 0, "\(result.stderr)")
        let fresh = dir.snapshot()
        let committed = try FileManager.default.contentsOfDirectory(atPath: Vectors.directory.path)
        #expect(Set(fresh.keys) == Set(committed))
        for name in committed {
            let data = try Data(contentsOf: Vectors.directory.appendingPathComponent(name))
            #expect(fresh[name] == data, "\(name) differs from the generator's output")
        }
    }

    @Test("a file over 64 MiB is refused before anything in it is read (format.too_large; too big to keep as a vector)")
    func tooLarge() throws {
        var bytes = Array("VAULT/2\n".utf8)
        bytes += [UInt8](repeating: 0, count: VaultFile.maxFile + 1 - bytes.count)
        let error = try #require(throws: FormatError.self) { _ = try VaultFile.decode(bytes) }
        #expect(error.code == "format.too_large")
    }

    @Test("KDF parameters beyond the caps are refused before any Argon2id work", arguments: [
        KDFParameters(opsLimit: 3, memLimit: 4 << 30), KDFParameters(opsLimit: 1 << 32, memLimit: 8 << 10),
        KDFParameters(opsLimit: 0, memLimit: 64 << 20),
    ])
    func caps(_ params: KDFParameters) throws {
        var p = Array("pw".utf8)
        // deriveKey validates first: with these parameters libsodium would try to allocate 4 GiB or run for hours.
        let error = try #require(throws: VaultError.self) {
            try PasswordHash.deriveKey(passphrase: SecretBytes(consuming: &p), salt: [UInt8](repeating: 1, count: 16), params: params)
        }
        #expect(error.code == "format.kdf_params")
    }
}

extension KDFParameters: CustomTestStringConvertible {
    public var testDescription: String { "ops \(opsLimit), mem \(memLimit)" }
}
