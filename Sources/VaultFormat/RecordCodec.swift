import VaultCrypto
import VaultRecords

/// The plaintext layouts inside `vault.db` (docs/FORMAT.md §4): version 1's single body of records, and version 2's
/// index and its individually sealed records. Pure functions over secret memory; no keys, no files.
public enum RecordCodec {
    static let bodyMagicV1: [UInt8] = Array("REC1".utf8)
    static let indexMagic: [UInt8] = Array("IDX2".utf8)
    /// The most records a version-1 body holds.
    static let maxRecordsV1 = 10_000
    /// The most records a version-2 index holds.
    public static let maxRecords = 100_000
    static let maxNameBytes = Int(UInt16.max)
    /// The index commits to the whole record area with BLAKE2b-256 (after the entry count): a writer checks it once
    /// before carrying records over sealed, instead of decrypting each one.
    static let areaHashBytes = 32

    static func areaHash(_ area: UnsafeRawBufferPointer) -> [UInt8] { KeyDerivation.hash(area, length: areaHashBytes) }

    // MARK: one record's fields after its kind and name (shared by both versions)

    /// Bytes of a record's metadata and secrets.
    static func tailSize(_ r: StoredRecord) -> Int {
        var size = 4 + r.metadata.count + 1
        for (k, v) in r.secrets { size += 1 + k.utf8.count + 4 + v.count }
        return size
    }

    /// Writes the metadata and the secrets (sorted by name) at `o`.
    static func writeTail(_ r: StoredRecord, into buf: UnsafeMutableRawBufferPointer, at o: inout Int) {
        func put(_ bytes: some Collection<UInt8>) {
            for b in bytes { buf[o] = b; o += 1 }
        }
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { put($0) } }
        u32(r.metadata.count); put(r.metadata)
        put([UInt8(r.secrets.count)])
        for (k, v) in r.secrets.sorted(by: { $0.key < $1.key }) {
            put([UInt8(k.utf8.count)]); put(k.utf8)
            u32(v.count)
            v.withUnsafeBytes { src in
                if src.count > 0 { (buf.baseAddress! + o).copyMemory(from: src.baseAddress!, byteCount: src.count) }
            }
            o += v.count
        }
    }

    /// Text fields must be valid UTF-8: a lenient decode (U+FFFD) would make a record that re-encodes differently.
    /// ASCII (every app name and kind vault writes) takes a fast path: a profile of `vault token` in a vault of
    /// 10,000 apps spent 38% of its instructions in the generic `String(validating:)` over the index's names.
    static func text(_ bytes: UnsafeRawBufferPointer) throws -> String {
        let typed = bytes.assumingMemoryBound(to: UInt8.self)
        var high: UInt8 = 0
        for b in typed { high |= b }
        if high < 0x80 { return String(decoding: typed, as: UTF8.self) }
        guard let s = String(validating: typed, as: UTF8.self) else { throw FormatError.utf8 }
        return s
    }

    /// Reads the metadata and secrets. Secret values are views into `body` (no copy): the decrypted bytes stay in
    /// one locked buffer for as long as any record of it is alive. Secret names must be unique.
    static func readTail(_ r: inout SecretReader, body: SecretBytes, kind: String, name: String) throws -> StoredRecord {
        let meta = Array(try r.take(Int(try r.u32())))
        let n = Int(try r.u8())
        var secrets: [String: SecretBytes] = [:]
        for _ in 0..<n {
            let key = try text(try r.take(Int(try r.u8())))
            guard secrets[key] == nil else { throw FormatError.duplicateRecord }
            let length = Int(try r.u32())
            let start = r.offset
            _ = try r.take(length)
            secrets[key] = body.view(start..<(start + length))
        }
        return StoredRecord(kind: kind, name: name, metadata: meta, secrets: secrets)
    }

    /// Size of a version-2 record's plaintext: flags (u32, 0), then the tail.
    static func recordSize(_ r: StoredRecord) -> Int { 4 + tailSize(r) }

    static func writeRecord(_ r: StoredRecord, into buf: UnsafeMutableRawBufferPointer) {
        for i in 0..<4 { buf[i] = 0 }
        var o = 4
        writeTail(r, into: buf, at: &o)
        precondition(o == recordSize(r))
    }

    // MARK: version 2

    /// One record as version 2 seals it: flags and its tail (kind and name are in the index and the AD).
    static func decodeRecord(_ plain: SecretBytes, kind: String, name: String) throws -> StoredRecord {
        try plain.withUnsafeBytes { buf in
            var r = SecretReader(buffer: buf)
            guard try r.u32() == 0 else { throw FormatError.flags }
            let record = try readTail(&r, body: plain, kind: kind, name: name)
            guard r.atEnd else { throw FormatError.record }
            return record
        }
    }

    /// The associated data of a version-2 record: vault id ‖ kind length (u8) ‖ kind ‖ name length (u16) ‖ name, so a
    /// record opens only under its own kind and name, in its own vault.
    static func recordAD(vaultID: [UInt8], kind: String, name: String) -> [UInt8] {
        var w = ByteWriter()
        w.bytes.reserveCapacity(vaultID.count + 3 + kind.utf8.count + name.utf8.count)
        w.raw(vaultID)
        w.u8(UInt8(kind.utf8.count))
        w.bytes.append(contentsOf: kind.utf8)
        w.u16(UInt16(name.utf8.count))
        w.bytes.append(contentsOf: name.utf8)
        return w.bytes
    }

    /// Checks a decrypted index against the size of the record area that follows it, without making a string: the
    /// lengths must tile the area exactly (a missing byte is `format.truncated`, an extra one `format.trailing`), kinds
    /// and names must be UTF-8. Returns where each entry starts in the index and where its record starts in the area.
    static func scanIndex(_ index: [UInt8], recordArea: Int) throws -> (entries: [Int32], records: [Int32]) {
        try index.withUnsafeBufferPointer { b in
            func u16(_ at: Int) -> Int { Int(b[at]) | Int(b[at + 1]) << 8 }
            func u32(_ at: Int) -> Int { Int(b[at]) | Int(b[at + 1]) << 8 | Int(b[at + 2]) << 16 | Int(b[at + 3]) << 24 }
            func utf8(_ from: Int, _ count: Int) throws {
                var high: UInt8 = 0
                for k in from..<(from + count) { high |= b[k] }
                if high >= 0x80, String(validating: UnsafeBufferPointer(rebasing: b[from..<(from + count)]), as: UTF8.self) == nil {
                    throw FormatError.utf8
                }
            }
            guard b.count >= 8 + areaHashBytes, b[0] == indexMagic[0], b[1] == indexMagic[1], b[2] == indexMagic[2], b[3] == indexMagic[3] else {
                throw FormatError.record
            }
            let count = u32(4)
            guard count <= maxRecords else { throw FormatError.count }
            var entries: [Int32] = [], records: [Int32] = []
            entries.reserveCapacity(count)
            records.reserveCapacity(count)
            var at = 8 + areaHashBytes, offset = 0
            for _ in 0..<count {
                guard at + 1 <= b.count else { throw FormatError.record }
                let kindLength = Int(b[at])
                guard kindLength > 0 else { throw FormatError.length }
                guard at + 1 + kindLength + 2 <= b.count else { throw FormatError.record }
                let nameAt = at + 1 + kindLength
                let nameLength = u16(nameAt)
                let nonceAt = nameAt + 2 + nameLength
                guard nonceAt + AEAD.nonceBytes + 4 <= b.count else { throw FormatError.record }
                try utf8(at + 1, kindLength)
                try utf8(nameAt + 2, nameLength)
                let length = u32(nonceAt + AEAD.nonceBytes)
                guard length >= AEAD.tagBytes, length <= VaultFile.maxBody else { throw FormatError.length }
                guard offset + length <= recordArea else { throw FormatError.truncated }
                entries.append(Int32(at))
                records.append(Int32(offset))
                offset += length
                at = nonceAt + AEAD.nonceBytes + 4
            }
            guard at == b.count else { throw FormatError.record }
            guard offset == recordArea else { throw FormatError.trailingBytes }
            return (entries, records)
        }
    }

    // MARK: version 1

    /// Version 1's body: `REC1`, the record count, then each record: flags, kind, name, and its tail.
    static func encodeV1(_ records: [StoredRecord]) -> SecretBytes {
        var size = 8
        for r in records { size += 4 + 1 + r.kind.utf8.count + 4 + r.name.utf8.count + tailSize(r) }
        let out = SecretBytes(count: size)
        out.withUnsafeMutableBytes { buf in
            var o = 0
            func put(_ bytes: some Collection<UInt8>) {
                for b in bytes { buf[o] = b; o += 1 }
            }
            func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { put($0) } }
            put(bodyMagicV1)
            u32(records.count)
            for r in records {
                u32(0) // reserved flags
                put([UInt8(r.kind.utf8.count)]); put(r.kind.utf8)
                u32(r.name.utf8.count); put(r.name.utf8)
                writeTail(r, into: buf, at: &o)
            }
            precondition(o == size)
        }
        return out
    }

    static func decodeV1(_ body: SecretBytes) throws -> [StoredRecord] {
        try body.withUnsafeBytes { buf in
            var r = SecretReader(buffer: buf)
            guard Array(try r.take(4)) == bodyMagicV1 else { throw FormatError.record }
            let count = Int(try r.u32())
            guard count <= maxRecordsV1 else { throw FormatError.count }
            var records: [StoredRecord] = []
            for _ in 0..<count {
                guard try r.u32() == 0 else { throw FormatError.flags }
                let kindLength = Int(try r.u8())
                guard kindLength > 0 else { throw FormatError.length }
                let kind = try text(try r.take(kindLength))
                let name = try text(try r.take(Int(try r.u32())))
                records.append(try readTail(&r, body: body, kind: kind, name: name))
            }
            guard r.atEnd else { throw FormatError.record }
            return records
        }
    }

    // MARK: for the fuzz harness and the tests

    /// Decodes a decrypted version-1 body (`REC1`…) into records.
    public static func decodeVersion1Body(_ body: SecretBytes) throws -> VaultContents { VaultContents(records: try decodeV1(body)) }

    /// The version-1 body of `contents` (every record opened).
    public static func encodeVersion1Body(_ contents: VaultContents) throws -> SecretBytes { encodeV1(try contents.records) }

    /// Checks a decrypted version-2 index against a record area of `recordArea` bytes; returns the entry count.
    public static func checkIndex(_ index: [UInt8], recordArea: Int) throws -> Int {
        try scanIndex(index, recordArea: recordArea).entries.count
    }

    /// Decodes a decrypted version-2 record.
    public static func decodeRecordPlaintext(_ plain: SecretBytes, kind: String, name: String) throws -> StoredRecord {
        try decodeRecord(plain, kind: kind, name: name)
    }
}
