import Testing
import VaultCrypto
import VaultErrors
import VaultStore
import VaultFormat
import VaultRecords

/// Found by fuzz-vault-file (corpus file Tests/Fuzz/vault-file/regression-body-kind-not-utf8): a record whose kind
/// was not UTF-8 decoded leniently (each bad byte became a 3-byte U+FFFD), so writing the vault back trapped on a kind
/// longer than 255 bytes. Bodies that would not re-encode to the same bytes are now refused as damaged.
@Suite("record decoding refuses what it could not write back")
struct RecordDecodingTests {
    static func body(kind: [UInt8], secretNames: [[UInt8]] = []) -> SecretBytes {
        func u32(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(v).littleEndian) { Array($0) } }
        var b = Array("REC1".utf8) + u32(1) + u32(0) + [UInt8(kind.count)] + kind + u32(4) + Array("demo".utf8) + u32(2) + Array("{}".utf8)
        b += [UInt8(secretNames.count)]
        for n in secretNames { b += [UInt8(n.count)] + n + u32(1) + [0x41] }
        return SecretBytes(consuming: &b)
    }

    @Test("a kind that is not UTF-8 is damaged, not re-encoded into something longer")
    func kindNotUTF8() {
        #expect(throws: (any Error).self) { try RecordCodec.decodeVersion1Body(Self.body(kind: [UInt8](repeating: 0xff, count: 200))) }
    }

    @Test("two secrets with the same name are damaged, not silently merged")
    func duplicateSecretNames() {
        #expect(throws: (any Error).self) {
            try RecordCodec.decodeVersion1Body(Self.body(kind: Array("app".utf8), secretNames: [Array("current".utf8), Array("current".utf8)]))
        }
    }

    @Test("a well-formed body still decodes and re-encodes to the same bytes")
    func roundTrip() throws {
        let original = Self.body(kind: Array("app".utf8), secretNames: [Array("current".utf8)])
        let contents = try RecordCodec.decodeVersion1Body(original)
        #expect(try RecordCodec.encodeVersion1Body(contents).withUnsafeBytes { Array($0) } == original.withUnsafeBytes { Array($0) })
    }

    @Test("two records of one kind with one name (a version-1 body could hold them) are refused by the writer")
    func duplicateRecords() throws {
        var b1 = Array("x".utf8), b2 = Array("y".utf8)
        let contents = VaultContents(records: [
            StoredRecord(kind: "note", name: "same", metadata: [], secrets: ["s": SecretBytes(consuming: &b1)]),
            StoredRecord(kind: "note", name: "same", metadata: [], secrets: ["s": SecretBytes(consuming: &b2)]),
        ])
        let error = try #require(throws: VaultError.self) {
            _ = try VaultCodec.create(credentials: [.keyFile(SecretBytes.random(count: 32))], contents: contents, kdf: .minimum)
        }
        #expect(error.code == "vault.record")
    }

    @Test("a file holding two records of one kind and name is refused by the reader (format.duplicate), not listed twice")
    func duplicateRecordsRead() throws {
        var b1 = Array("x".utf8), b2 = Array("y".utf8)
        let contents = VaultContents(records: [
            StoredRecord(kind: "app", name: "same", metadata: [], secrets: ["s": SecretBytes(consuming: &b1)]),
            StoredRecord(kind: "app", name: "same", metadata: [], secrets: ["s": SecretBytes(consuming: &b2)]),
        ])
        let key = SecretBytes.random(count: 32)
        // Version 1 does not check on write (it is kept for vectors and migration tests), so it can make such a file.
        let made = try VaultCodec.create(credentials: [.keyFile(key)], contents: contents, kdf: .minimum, version: 1)
        let error = try #require(throws: VaultError.self) { _ = try VaultCodec.unlockAndOpen(made.bytes, with: .keyFile(key)) }
        #expect(error.code == "format.duplicate")
    }
}
