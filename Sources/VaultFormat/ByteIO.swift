import VaultCrypto
import VaultErrors

/// Little-endian writer for the binary layouts of docs/FORMAT.md.
struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func raw(_ v: [UInt8]) { bytes.append(contentsOf: v) }
}

/// Bounds-checked little-endian reader: every read past the end throws `format.truncated`.
struct ByteReader {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, remaining >= n else { throw FormatError.truncated }
        defer { offset += n }
        return bytes[offset..<offset + n]
    }
    mutating func u8() throws -> UInt8 { try take(1).first! }
    mutating func u32() throws -> UInt32 {
        try take(4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }
    mutating func u64() throws -> UInt64 {
        try take(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }
    mutating func array(_ n: Int) throws -> [UInt8] { Array(try take(n)) }
}

/// Reads the same little-endian layout out of secret memory without copying secrets into Swift arrays.
struct SecretReader {
    let buffer: UnsafeRawBufferPointer
    var offset = 0

    mutating func take(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, buffer.count - offset >= n else { throw FormatError.record }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + n])
    }
    mutating func u8() throws -> UInt8 { try take(1)[0] }
    mutating func u16() throws -> UInt16 { try take(2).reversed().reduce(UInt16(0)) { $0 << 8 | UInt16($1) } }
    mutating func u32() throws -> UInt32 { try take(4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
    var atEnd: Bool { offset == buffer.count }
}

/// Decoding failures of the on-disk format, mapped to user-facing errors by `vaultError`.
public enum FormatError: Error, Equatable, Sendable {
    case empty, badMagic, unknownVersion(String), truncated, trailingBytes, badSlotCount, unknownSlotType(UInt8)
    case unknownKDF(UInt8), bodyTooLarge, damagedBody, damagedRecords
    /// A file over `VaultFile.maxFile` (64 MiB).
    case tooLarge
    /// A length field outside its range: an index or body length, a record's sealed length, a kind of length 0.
    case length
    /// More records than the version allows (10,000 in a version-1 body, 100,000 in an index).
    case count
    /// Authenticated plaintext that does not parse: a missing magic (`REC1`, `IDX2`), a field running past its end,
    /// or bytes left after the last field.
    case record
    /// A kind, a name or a secret name that is not UTF-8.
    case utf8
    /// A reserved flags field that is not 0 (a reader does not guess what a later writer meant by it).
    case flags
    /// Two records of one kind and name, or two secrets of one name in a record: a reader would have to guess which
    /// one is meant.
    case duplicateRecord

    /// A stable code (also the label of the test vectors).
    public var code: String {
        switch self {
        case .empty: "format.empty"
        case .badMagic: "format.magic"
        case .unknownVersion: "format.version"
        case .truncated: "format.truncated"
        case .trailingBytes: "format.trailing"
        case .badSlotCount, .unknownSlotType, .unknownKDF: "format.header"
        case .bodyTooLarge, .length: "format.length"
        case .tooLarge: "format.too_large"
        case .count: "format.count"
        case .record: "format.record"
        case .utf8: "format.utf8"
        case .flags: "format.flags"
        case .damagedBody, .damagedRecords: "format.damaged"
        case .duplicateRecord: "format.duplicate"
        }
    }

    /// What happened, for people; the CLI's table words the advice (restore from a backup, upgrade vault).
    public var vaultError: VaultError {
        VaultError(.init(code), reason)
    }

    public var reason: String {
        switch self {
        case .empty: "the vault file is empty"
        case .badMagic: "this is not a vault file (bad magic line)"
        case .unknownVersion(let v): "the vault file has format version \(v), which this vault does not know"
        case .truncated, .trailingBytes: "the vault file is truncated or has trailing bytes"
        case .badSlotCount, .unknownSlotType, .unknownKDF: "the vault file's header is invalid"
        case .bodyTooLarge, .length: "the vault file is damaged: a length field is out of its range"
        case .tooLarge: "the vault file is larger than \(VaultFile.maxFile >> 20) MiB, the most a vault holds"
        case .count: "the vault file is damaged: it lists more records than a vault holds"
        case .record: "the vault file is damaged: its decrypted contents do not parse"
        case .utf8: "the vault file is damaged: a record's kind or name is not UTF-8"
        case .flags: "the vault file has a record with flags this vault does not know"
        case .damagedBody, .damagedRecords: "the vault file is damaged: its contents failed authentication"
        case .duplicateRecord: "the vault file holds two records of the same kind and name; vault will not guess which one is meant"
        }
    }
}
