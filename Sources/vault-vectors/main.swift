// Writes the test vectors of docs/FORMAT.md into a directory, with fixed randomness, so anyone can regenerate
// them and get the same bytes: `swift run vault-vectors Tests/VaultStoreTests/Vectors`.
import FoundationEssentials
import VaultCrypto
import VaultFormat
import VaultRecords
import VaultStore
#if canImport(Glibc)
import Glibc
#endif

struct Entry: Encodable {
    var file: String
    var unlock: [String: String]
    var expect: String
    var apps: [String]?
    var note: String
}

let arguments = CommandLine.arguments
guard arguments.count == 2 else {
    FileDescriptorWriter.err("usage: vault-vectors OUTPUT_DIR\n")
    exit(64)
}
let out = arguments[1]

enum FileDescriptorWriter {
    static func err(_ s: String) { var b = Array(s.utf8); _ = write(2, &b, b.count) }
}

let passphrase = "correct horse battery staple"
let keyFileBytes: [UInt8] = (0..<32).map { UInt8($0) }
func pass(_ s: String) -> Credential { var b = Array(s.utf8); return .passphrase(SecretBytes(consuming: &b)) }
func key(_ k: [UInt8]) -> Credential { var b = k; return .keyFile(SecretBytes(consuming: &b)) }
let hex = { (b: [UInt8]) in b.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }

@MainActor func contents() throws -> VaultContents {
    var c = VaultContents()
    var secret = Array("Ab8Q~vectorsecret-vectorsecret-vectorsec".utf8)
    var meta = AppMetadata(name: "vector-app", tenant: "11111111-1111-1111-1111-111111111111",
                           clientID: "22222222-2222-2222-2222-222222222222", cloud: "global", authority: nil,
                           secretHint: "Ab8", added: Date(timeIntervalSince1970: 1_767_225_600))
    meta.graphRoot = nil
    try c.putApp(meta, secret: SecretBytes(consuming: &secret))
    return c
}

/// The certificate app of `valid-certificate-app.vault`: no client secret, the key in `certificate_key`. The values
/// are fixed placeholders (RSA keys cannot be made deterministically here); the vector is about the record layout.
let vectorCertificateKey = Array("vector-certificate-key-pkcs8-der".utf8)

@MainActor func contentsWithCertificate() throws -> VaultContents {
    var c = try contents()
    var meta = AppMetadata(name: "vector-cert-app", tenant: "11111111-1111-1111-1111-111111111111",
                           clientID: "33333333-3333-3333-3333-333333333333", cloud: "global", authority: nil,
                           secretHint: "", added: Date(timeIntervalSince1970: 1_767_225_600))
    meta.certificate = "dmVjdG9yLWNlcnRpZmljYXRlLWRlcg=="
    meta.certificateSHA1 = "0123456789ABCDEF0123456789ABCDEF01234567"
    meta.certificateSHA256 = String(repeating: "AB", count: 32)
    meta.certificateExpires = Date(timeIntervalSince1970: 1_798_761_600)
    meta.certificateSubject = "CN=vector-cert-app"
    var key = vectorCertificateKey
    try c.putApp(StoredApp(metadata: meta, secret: nil, certificateKey: SecretBytes(consuming: &key)))
    return c
}

/// Version 1 files, as vault wrote them before format version 2 (read and migrated on the first write).
@MainActor func make(_ creds: [Credential], kdf: KDFParameters, seed: UInt8, withCertificate: Bool = false) throws -> [UInt8] {
    let rng = SeededRandom(seed: [UInt8](repeating: seed, count: 32))
    return try VaultCodec.create(credentials: creds, contents: withCertificate ? contentsWithCertificate() : contents(), kdf: kdf,
                                 random: rng, version: 1).bytes
}

/// Version 2 files: `vector-app`, `vector-cert-app` and a rotation journal of `vector-app`, each record sealed on its own.
@MainActor func makeV2(_ creds: [Credential], kdf: KDFParameters, seed: UInt8) throws -> (bytes: [UInt8], master: SecretBytes) {
    var c = try contentsWithCertificate()
    var newSecret = Array("Xy9Q~vectornewsecret".utf8)
    c.put(StoredRecord(kind: "rotation", name: "vector-app", metadata: Array(#"{"app":"vector-app","id":"00000000-0000-4000-8000-000000000001","step":"adding"}"#.utf8),
                       secrets: ["new": SecretBytes(consuming: &newSecret)]))
    return try VaultCodec.create(credentials: creds, contents: c, kdf: kdf, random: SeededRandom(seed: [UInt8](repeating: seed, count: 32)))
}

/// Where the index and each record's sealed bytes are in a version-2 file.
@MainActor func layout(_ bytes: [UInt8], master: SecretBytes) throws -> VaultLayout {
    try VaultCodec.layout(of: bytes, master: master)
}

var files: [(String, [UInt8])] = []
var manifest: [Entry] = []
let passUnlock = ["passphrase": passphrase]
let keyUnlock = ["key_file_hex": hex(keyFileBytes)]

@MainActor func add(_ name: String, _ bytes: [UInt8], unlock: [String: String], expect: String, note: String, apps: [String] = ["vector-app"]) {
    files.append((name, bytes))
    manifest.append(Entry(file: name, unlock: unlock, expect: expect, apps: expect == "ok" ? apps : nil, note: note))
}

do {
    let onePass = try make([pass(passphrase)], kdf: .minimum, seed: 1)
    let oneKey = try make([key(keyFileBytes)], kdf: .minimum, seed: 2)
    let twoSlots = try make([pass(passphrase), key(keyFileBytes)], kdf: .minimum, seed: 3)
    let defaultKDF = try make([pass(passphrase)], kdf: .earlierDefault, seed: 4)

    add("valid-passphrase.vault", onePass, unlock: passUnlock, expect: "ok", note: "one passphrase slot (minimum Argon2id limits)")
    add("valid-keyfile.vault", oneKey, unlock: keyUnlock, expect: "ok", note: "one key-file slot")
    add("valid-two-slots-passphrase.vault", twoSlots, unlock: passUnlock, expect: "ok", note: "passphrase + key file, opened by passphrase")
    add("valid-two-slots-keyfile.vault", twoSlots, unlock: keyUnlock, expect: "ok", note: "passphrase + key file, opened by key file")
    add("valid-certificate-app.vault", try make([key(keyFileBytes)], kdf: .minimum, seed: 5, withCertificate: true), unlock: keyUnlock,
        expect: "ok", note: "a secret app and a certificate app (no `current`, the key in `certificate_key`; placeholder values)",
        apps: ["vector-app", "vector-cert-app"])
    add("valid-default-kdf.vault", defaultKDF, unlock: passUnlock, expect: "ok", note: "default Argon2id parameters (3 passes, 64 MiB)")
    add("wrong-passphrase.vault", onePass, unlock: ["passphrase": "incorrect horse"], expect: "unlock.failed", note: "wrong passphrase")
    add("wrong-keyfile.vault", oneKey, unlock: ["key_file_hex": hex(keyFileBytes.reversed())], expect: "unlock.failed", note: "wrong key file")
    add("wrong-credential-kind.vault", oneKey, unlock: passUnlock, expect: "unlock.failed", note: "passphrase given, only a key-file slot")

    // Offsets (docs/FORMAT.md §2): magic 0..<8, vault id 8..<24, slot count 24, first slot from 25:
    // kind 25, id 26..<34, alg 34, ops 35..<43, mem 43..<51, salt 51..<67, nonce 67..<91, wrapped 91..<139.
    var b = onePass; b[10] ^= 0x01
    add("flipped-header-vault-id.vault", b, unlock: passUnlock, expect: "unlock.failed", note: "bit flipped in the vault id (slot AD)")
    b = onePass; b[55] ^= 0x01
    add("flipped-header-salt.vault", b, unlock: passUnlock, expect: "unlock.failed", note: "bit flipped in the passphrase slot's salt")
    b = onePass; b[100] ^= 0x01
    add("flipped-wrapped-key.vault", b, unlock: passUnlock, expect: "unlock.failed", note: "bit flipped in the wrapped master key")
    // Second slot (key file) of the two-slot file starts at 139: kind 139, id 140..<148, nonce 148..<172.
    b = twoSlots; b[150] ^= 0x01
    add("flipped-header-other-slot.vault", b, unlock: passUnlock, expect: "format.damaged",
        note: "bit flipped in the key-file slot while unlocking by passphrase: caught by the body's AD")
    b = onePass; b[170] ^= 0x01
    add("flipped-ciphertext.vault", b, unlock: passUnlock, expect: "format.damaged", note: "bit flipped in the body ciphertext")
    b = onePass; b[b.count - 1] ^= 0x01
    add("flipped-tag.vault", b, unlock: passUnlock, expect: "format.damaged", note: "bit flipped in the body tag")
    b = onePass; b[145] ^= 0x01
    add("flipped-body-nonce.vault", b, unlock: passUnlock, expect: "format.damaged", note: "bit flipped in the body nonce")
    add("truncated-magic.vault", Array(onePass.prefix(5)), unlock: passUnlock, expect: "format.truncated", note: "5 bytes")
    add("truncated-header.vault", Array(onePass.prefix(60)), unlock: passUnlock, expect: "format.truncated", note: "cut inside the first slot")
    add("truncated-length.vault", Array(onePass.prefix(165)), unlock: passUnlock, expect: "format.truncated", note: "cut inside the body length")
    add("truncated-body.vault", Array(onePass.dropLast(10)), unlock: passUnlock, expect: "format.truncated", note: "10 bytes missing from the body")
    add("truncated-last-byte.vault", Array(onePass.dropLast(1)), unlock: passUnlock, expect: "format.truncated", note: "last byte missing")
    add("trailing-bytes.vault", onePass + [0], unlock: passUnlock, expect: "format.trailing", note: "one byte after the body")
    b = onePass; b[6] = UInt8(ascii: "3")
    add("unknown-version.vault", b, unlock: passUnlock, expect: "format.version", note: "magic line VAULT/3")
    b = onePass
    for i in 0..<8 { b[43 + i] = [0, 0, 0, 0, 1, 0, 0, 0][i] } // memlimit 2^32 = 4 GiB
    add("kdf-memory-over-cap.vault", b, unlock: passUnlock, expect: "format.kdf_params", note: "memlimit 4 GiB > 1 GiB cap")
    b = onePass
    for i in 0..<8 { b[35 + i] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0][i] }
    add("kdf-ops-over-cap.vault", b, unlock: passUnlock, expect: "format.kdf_params", note: "opslimit 2^32-1 > 16")
    b = onePass; b[24] = 9
    add("too-many-slots.vault", b, unlock: passUnlock, expect: "format.header", note: "slot count 9 > 8")
    add("empty.vault", [], unlock: passUnlock, expect: "format.empty", note: "zero bytes")

    // Version 2 (docs/FORMAT.md §4.2): an authenticated index, each record sealed on its own after it.
    let v2Apps = ["vector-app", "vector-cert-app"]
    let (v2, v2Master) = try makeV2([key(keyFileBytes)], kdf: .minimum, seed: 6)
    let v2Pass = try makeV2([pass(passphrase), key(keyFileBytes)], kdf: .minimum, seed: 7).bytes
    add("v2-valid-keyfile.vault", v2, unlock: keyUnlock, expect: "ok", note: "version 2: two apps and a rotation journal, one key-file slot", apps: v2Apps)
    add("v2-valid-passphrase.vault", v2Pass, unlock: passUnlock, expect: "ok", note: "version 2, passphrase + key file, opened by passphrase", apps: v2Apps)
    let l = try layout(v2, master: v2Master)
    b = v2; b[l.indexStart + 5] ^= 0x01
    add("v2-flipped-index.vault", b, unlock: keyUnlock, expect: "format.damaged", note: "bit flipped in the sealed index")
    b = v2; b[l.indexStart - 4] ^= 0x01
    add("v2-flipped-index-length.vault", b, unlock: keyUnlock, expect: "format.damaged", note: "index length one off: the index fails authentication")
    b = v2; b[l.records[0].lowerBound + 3] ^= 0x01
    add("v2-flipped-record.vault", b, unlock: keyUnlock, expect: "format.damaged", note: "bit flipped in the first record (vector-app)")
    b = v2; b[l.records[1].upperBound - 1] ^= 0x01
    add("v2-flipped-record-tag.vault", b, unlock: keyUnlock, expect: "format.damaged", note: "bit flipped in the second record's tag")
    b = Array(v2[..<l.records[0].lowerBound]) + Array(v2[l.records[1]]) + Array(v2[l.records[0]]) + Array(v2[l.records[1].upperBound...])
    add("v2-swapped-records.vault", b, unlock: keyUnlock, expect: "format.damaged", note: "the first two records' sealed bytes swapped")
    // The same vault id and master key, a later write of vector-app: its old sealed bytes spliced into the new file.
    var later = try VaultCodec.unlockAndOpen(v2, with: key(keyFileBytes))
    var rotated = Array("Ab8Q~vectorsecret-rotated-rotated-rotate".utf8)
    var meta = try later.contents.app(named: "vector-app")!.metadata
    meta.secretHint = "Ab8"
    try later.contents.putApp(meta, secret: SecretBytes(consuming: &rotated))
    let laterBytes = try later.sealed(random: SeededRandom(seed: [UInt8](repeating: 8, count: 32)))
    let l2 = try layout(laterBytes, master: v2Master)
    b = Array(laterBytes[..<l2.records[0].lowerBound]) + Array(v2[l.records[0]]) + Array(laterBytes[l2.records[0].upperBound...])
    add("v2-replayed-record.vault", b, unlock: keyUnlock, expect: "format.damaged",
        note: "vector-app's sealed bytes from the earlier file spliced into a later write (same vault, same key)")
    let other = try makeV2([key(keyFileBytes)], kdf: .minimum, seed: 9)
    let lo = try layout(other.bytes, master: other.master)
    b = Array(v2[..<l.records[0].lowerBound]) + Array(other.bytes[lo.records[0]]) + Array(v2[l.records[0].upperBound...])
    add("v2-record-from-other-vault.vault", b, unlock: keyUnlock, expect: "format.damaged",
        note: "vector-app's sealed bytes from another vault (same key file, another vault id and master key)")
    add("v2-truncated-record.vault", Array(v2.dropLast(1)), unlock: keyUnlock, expect: "format.truncated", note: "last byte of the last record missing")
    add("v2-dropped-record.vault", Array(v2[..<l.records[2].lowerBound]), unlock: keyUnlock, expect: "format.truncated", note: "the last record (the journal) cut off")
    add("v2-trailing-bytes.vault", v2 + [0], unlock: keyUnlock, expect: "format.trailing", note: "one byte after the last record")
    b = v2; b[6] = UInt8(ascii: "1")
    add("v2-downgraded-magic.vault", b, unlock: keyUnlock, expect: "format.trailing",
        note: "VAULT/2 changed to VAULT/1: read as version 1, the records are bytes after its body")
    add("garbage.vault", SeededRandom(seed: [UInt8](repeating: 9, count: 32)).bytes(200), unlock: passUnlock,
        expect: "format.magic", note: "200 random bytes")

    // Version 2, each breaking one rule a reader applies after authentication (FORMAT.md §4.2, "A reader checks"):
    // every record sealed correctly and the index committing to the area, so the rule itself is what refuses them.
    func plaintext(flags: UInt32 = 0, meta: [UInt8], secrets: [([UInt8], [UInt8])], extra: [UInt8] = []) -> [UInt8] {
        var p: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { p += $0 } }
        u32(flags); u32(UInt32(meta.count)); p += meta; p.append(UInt8(secrets.count))
        for (n, v) in secrets { p.append(UInt8(n.count)); p += n; u32(UInt32(v.count)); p += v }
        return p + extra
    }
    let appMeta = Array(try VaultContents.encoder.encode(try contents().app(named: "vector-app")!.metadata))
    let secret = Array("Ab8Q~vectorsecret-vectorsecret-vectorsec".utf8)
    let good = VaultCodec.RawRecord(kind: Array("app".utf8), name: Array("vector-app".utf8), plaintext: plaintext(meta: appMeta, secrets: [(Array("current".utf8), secret)]))
    func note(_ n: String) -> [UInt8] { Array(n.utf8) }
    func raw(_ seed: UInt8, _ records: [VaultCodec.RawRecord], count: UInt32? = nil) throws -> [UInt8] {
        try VaultCodec.sealRawVersion2(v2, master: v2Master, records: records, count: count, random: SeededRandom(seed: [UInt8](repeating: seed, count: 32)))
    }
    let noteRecord = { (p: [UInt8]) in VaultCodec.RawRecord(kind: note("note"), name: note("n"), plaintext: p) }
    b = v2; b[l.indexStart - 1] = 0x02
    add("v2-index-length-over-cap.vault", b, unlock: keyUnlock, expect: "format.length", note: "index length over 16 MiB (its high byte set)")
    add("v2-index-count-over-cap.vault", try raw(20, [], count: 100_001), unlock: keyUnlock, expect: "format.count",
        note: "an authenticated index listing 100,001 records")
    add("v2-index-empty-kind.vault", try raw(21, [good, VaultCodec.RawRecord(kind: [], name: note("x"), plaintext: plaintext(meta: note("{}"), secrets: []))]),
        unlock: keyUnlock, expect: "format.length", note: "an entry whose kind has length 0")
    add("v2-index-name-not-utf8.vault", try raw(22, [good, VaultCodec.RawRecord(kind: note("note"), name: [0x6e, 0xc3, 0x28], plaintext: plaintext(meta: note("{}"), secrets: []))]),
        unlock: keyUnlock, expect: "format.utf8", note: "a record name that is not UTF-8 (0xC3 0x28)")
    add("v2-duplicate-record.vault", try raw(23, [good, good]), unlock: keyUnlock, expect: "format.duplicate",
        note: "two app records named vector-app, each sealed correctly")
    add("v2-record-flags.vault", try raw(24, [good, noteRecord(plaintext(flags: 1, meta: note("{}"), secrets: []))]), unlock: keyUnlock,
        expect: "format.flags", note: "a record whose reserved flags are 1")
    add("v2-record-trailing-plaintext.vault", try raw(25, [good, noteRecord(plaintext(meta: note("{}"), secrets: [], extra: [0]))]),
        unlock: keyUnlock, expect: "format.record", note: "one byte after a record's last secret, inside its authenticated plaintext")
    add("v2-record-overrun.vault", try raw(26, [good, noteRecord(Array(plaintext(meta: note("{}"), secrets: [(note("s"), note("value"))]).dropLast(2)))]),
        unlock: keyUnlock, expect: "format.record", note: "a secret's length runs past the end of its record's plaintext")
    add("v2-record-secret-name-not-utf8.vault", try raw(27, [good, noteRecord(plaintext(meta: note("{}"), secrets: [([0xff], note("v"))]))]),
        unlock: keyUnlock, expect: "format.utf8", note: "a secret name that is not UTF-8 (0xFF)")
    add("v2-record-duplicate-secret.vault", try raw(28, [good, noteRecord(plaintext(meta: note("{}"), secrets: [(note("s"), note("a")), (note("s"), note("b"))]))]),
        unlock: keyUnlock, expect: "format.duplicate", note: "two secrets named s in one record")
    // A federated app (no credential in the record: `federated` names the token's source), next to a secret app.
    var federated = try contents()
    var fed = AppMetadata(name: "vector-fed-app", tenant: "11111111-1111-1111-1111-111111111111",
                          clientID: "44444444-4444-4444-4444-444444444444", cloud: "global", authority: nil,
                          secretHint: "", added: Date(timeIntervalSince1970: 1_767_225_600))
    fed.federated = "file:/var/run/secrets/azure/tokens/azure-identity-token"
    try federated.putApp(StoredApp(metadata: fed, secret: nil))
    add("valid-federated-app.vault", try VaultCodec.create(credentials: [key(keyFileBytes)], contents: federated, kdf: .minimum,
                                                           random: SeededRandom(seed: [UInt8](repeating: 29, count: 32))).bytes,
        unlock: keyUnlock, expect: "ok", note: "a secret app and a federated app (no secret; `federated` names the token file)",
        apps: ["vector-app", "vector-fed-app"])
} catch {
    FileDescriptorWriter.err("vault-vectors: \(error)\n")
    exit(70)
}

do {
    for (name, bytes) in files {
        try FileSystem.writeAtomically(directory: out, name: name, bytes: bytes, mode: 0o644)
    }
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    try FileSystem.writeAtomically(directory: out, name: "manifest.json", bytes: Array(try e.encode(manifest)) + [0x0a], mode: 0o644)
    print("wrote \(files.count) vectors to \(out)")
} catch {
    FileDescriptorWriter.err("vault-vectors: \(error)\n")
    exit(74)
}
