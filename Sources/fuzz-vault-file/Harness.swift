import FoundationEssentials
import FuzzSupport
import VaultCrypto
import VaultFormat
import VaultRecords

/// Fuzzes the vault file. First byte even → the bytes are a `vault.db` (version 1 or 2) opened with a fixed key file
/// (header, key slots, the authenticated body or index, every record: no Argon2id, key-file slots only). First byte
/// 1 mod 4 → a decrypted version-1 body, decoded, read as apps, then sealed as version 2 under a fixed master key and
/// opened again, then changed (one app added) and sealed again, carrying the other records over sealed: a record set
/// that decodes must survive both round trips. 3 mod 4 → a decrypted version-2 index (against a record area of the
/// size the second byte gives) and, from the remaining bytes, a decrypted record.
let keyFile: SecretBytes = {
    var k = [UInt8](repeating: 0x4b, count: 32)
    return SecretBytes(consuming: &k)
}()

func harness(_ bytes: [UInt8]) {
    guard let first = bytes.first else { return }
    let rest = Array(bytes.dropFirst())
    if first & 1 == 0 {
        guard let file = try? VaultFile.decode(rest) else { return }
        // Argon2id never runs here: only key-file slots are tried.
        guard file.slots.contains(where: { $0.kind == .keyFile }) else { return }
        if let v = try? VaultCodec.unlockAndOpen(rest, with: .keyFile(keyFile)) {
            _ = try? v.contents.apps
            for name in v.contents.names(kind: "app").prefix(16) { _ = try? v.contents.app(named: name) }
        }
        return
    }
    if first & 3 == 3 {
        guard rest.count >= 1 else { return }
        let split = min(rest.count, 1 + Int(rest[0]) * 4)
        _ = try? RecordCodec.checkIndex(Array(rest[1..<split]), recordArea: Int(rest[0]) * 40)
        var record = Array(rest[split...])
        _ = try? RecordCodec.decodeRecordPlaintext(SecretBytes(consuming: &record), kind: "app", name: "fuzz")
        return
    }
    var plain = rest
    guard let contents = try? RecordCodec.decodeVersion1Body(SecretBytes(consuming: &plain)),
          let records = try? contents.records else { return }
    _ = try? contents.apps
    for r in records.prefix(16) {
        _ = try? contents.app(named: r.name)
        let (fast, reference) = VaultContents.metadataDecodings(r.metadata)
        if let fast { precondition(fast == reference, "the fast metadata decoder disagrees with JSONDecoder") }
    }
    // Records a writer would refuse (duplicates, oversized names) cannot be sealed; that is a clean refusal.
    guard (try? contents.checkEncodable()) != nil else { return }
    guard let made = try? VaultCodec.create(credentials: [.keyFile(keyFile)], contents: contents, kdf: .default,
                                            random: SeededRandom(seed: [UInt8](repeating: 3, count: 32))),
          var reopened = try? VaultCodec.unlockAndOpen(made.bytes, with: .keyFile(keyFile)),
          let again = try? reopened.contents.records else {
        preconditionFailure("a body that decodes could not be sealed and opened again")
    }
    precondition(again.count == records.count, "records lost in a round trip")
    precondition(zip(again, records).allSatisfy { $0.kind == $1.kind && $0.name == $1.name && $0.metadata == $1.metadata },
                 "records changed in a round trip")
    var secret = Array("fuzz8Q~added".utf8)
    try? reopened.contents.putApp(AppMetadata(name: "fuzz-added-\(records.count)", tenant: "t", clientID: "c", cloud: "global", authority: nil,
                                              secretHint: "fuz", added: Date(timeIntervalSince1970: 0)), secret: SecretBytes(consuming: &secret))
    guard let resealed = try? reopened.sealed(random: SeededRandom(seed: [UInt8](repeating: 4, count: 32))),
          let third = try? VaultCodec.unlockAndOpen(resealed, with: .keyFile(keyFile)), let all = try? third.contents.records else {
        preconditionFailure("a vault with records carried over sealed could not be written and opened again")
    }
    precondition(all.count == reopened.contents.count, "records lost when carried over")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    harness(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
@main struct Replay {
    static func main() {
        FuzzReplay.main(harness) {
            var contents = VaultContents()
            var secret = Array("abc8Q~0123456789012345678901234567890123".utf8)
            let meta = AppMetadata(name: "demo", tenant: "11111111-1111-1111-1111-111111111111", clientID: "22222222-2222-2222-2222-222222222222",
                                   cloud: "global", authority: nil, secretHint: "abc", added: Date(timeIntervalSince1970: 1_800_000_000))
            try? contents.putApp(meta, secret: SecretBytes(consuming: &secret))
            var journalSecret = Array("xyz8Q~new".utf8)
            contents.put(StoredRecord(kind: "rotation", name: "demo", metadata: Array(#"{"id":"j","app":"demo","step":"added"}"#.utf8),
                                      secrets: ["new": SecretBytes(consuming: &journalSecret)]))
            var seeds: [(String, [UInt8])] = []
            if let made = try? VaultCodec.create(credentials: [.keyFile(keyFile)], contents: contents, random: SeededRandom(seed: [UInt8](repeating: 9, count: 32))) {
                seeds.append(("vault-keyfile", [0] + made.bytes))
            }
            if let made = try? VaultCodec.create(credentials: [.keyFile(keyFile)], contents: contents, random: SeededRandom(seed: [UInt8](repeating: 9, count: 32)), version: 1) {
                seeds.append(("vault-keyfile-v1", [0] + made.bytes))
            }
            if let body = try? RecordCodec.encodeVersion1Body(contents) { seeds.append(("body-records", [1] + body.withUnsafeBytes { Array($0) })) }
            if let body = try? RecordCodec.encodeVersion1Body(VaultContents()) { seeds.append(("body-empty", [1] + body.withUnsafeBytes { Array($0) })) }
            return seeds
        }
    }
}
#endif
