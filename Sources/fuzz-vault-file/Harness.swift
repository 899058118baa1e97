import FoundationEssentials
import FuzzSupport
import VaultCrypto
import VaultStore

/// Fuzzes the vault file: first byte even → the bytes are a `vault.db` opened with a fixed key file (header, key
/// slots, the authenticated body: no Argon2id, key-file slots only); odd → the bytes are a decrypted body (records),
/// which is decoded, read as apps, then sealed under a fixed master key and opened again (the authenticated path
/// with fuzzed plaintext). A record set that decodes must survive the round trip unchanged.
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
        if let v = try? VaultCodec.unlockAndOpen(rest, with: .keyFile(keyFile)) { _ = v.contents.apps }
        return
    }
    var plain = rest
    guard let contents = try? VaultContents.decodeBody(SecretBytes(consuming: &plain)) else { return }
    _ = contents.apps
    for r in contents.records.prefix(16) { _ = contents.app(named: r.name) }
    guard let made = try? VaultCodec.create(credentials: [.keyFile(keyFile)], contents: contents, kdf: .default,
                                            random: SeededRandom(seed: [UInt8](repeating: 3, count: 32))),
          let reopened = try? VaultCodec.unlockAndOpen(made.bytes, with: .keyFile(keyFile)) else {
        preconditionFailure("a body that decodes could not be sealed and opened again")
    }
    precondition(reopened.contents.records.count == contents.records.count, "records lost in a round trip")
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
            seeds.append(("body-records", [1] + contents.encodeBody().withUnsafeBytes { Array($0) }))
            seeds.append(("body-empty", [1] + VaultContents().encodeBody().withUnsafeBytes { Array($0) }))
            return seeds
        }
    }
}
#endif
