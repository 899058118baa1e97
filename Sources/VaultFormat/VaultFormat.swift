import VaultCrypto
import VaultErrors

/// A key slot: one way to recover the master key (docs/FORMAT.md §3).
public struct KeySlot: Equatable, Sendable {
    public enum Kind: UInt8, Sendable { case passphrase = 1, keyFile = 2 }
    public static let kdfArgon2id13: UInt8 = 2

    public var kind: Kind
    public var id: [UInt8]              // 8 bytes
    public var kdf: KDFParameters?      // passphrase slots only
    public var salt: [UInt8]            // passphrase slots only, 16 bytes
    public var nonce: [UInt8]           // 24 bytes
    public var wrappedKey: [UInt8]      // 48 bytes: master key ‖ tag

    package init(kind: Kind, id: [UInt8], kdf: KDFParameters?, salt: [UInt8], nonce: [UInt8], wrappedKey: [UInt8]) {
        self.kind = kind
        self.id = id
        self.kdf = kdf
        self.salt = salt
        self.nonce = nonce
        self.wrappedKey = wrappedKey
    }

    public var idHex: String { id.map { String($0, radix: 16).leftPad(2) }.joined() }

    /// The slot bytes that precede its nonce; with the magic and vault id, the AD of the wrapped key.
    func descriptor() -> [UInt8] {
        var w = ByteWriter()
        w.u8(kind.rawValue)
        w.raw(id)
        if kind == .passphrase, let kdf {
            w.u8(Self.kdfArgon2id13)
            w.u64(kdf.opsLimit)
            w.u64(kdf.memLimit)
            w.raw(salt)
        }
        return w.bytes
    }
}

extension String {
    package func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}

/// The parsed secrets file: header fields plus the sealed contents (docs/FORMAT.md §2). Version 1 seals every record
/// in one body; version 2 seals an index, and each record on its own after it (§4.2), so one record can be opened
/// without the others. Readers take both; writers write version 2.
public struct VaultFile: Equatable, Sendable {
    public static let magicV1: [UInt8] = Array("VAULT/1\n".utf8)
    public static let magicV2: [UInt8] = Array("VAULT/2\n".utf8)
    /// The magic line this version writes.
    public static let magic = magicV2
    public static let maxSlots = 8
    /// The most a version-1 body, a version-2 index or one version-2 record may hold.
    public static let maxBody = 16 << 20
    /// The most a whole `vault.db` may hold (what readers read into memory).
    public static let maxFile = 64 << 20

    /// 1 or 2.
    public var version: UInt8 = 2
    public var vaultID: [UInt8]
    public var slots: [KeySlot]
    /// Version 1: the body's nonce and ciphertext ‖ tag. Version 2: the index's.
    public var bodyNonce: [UInt8]
    public var sealedBody: [UInt8]
    /// Version 2 only: the sealed records, back to back, in index order (their lengths are in the index). Empty when
    /// the file was opened for reading records one at a time (`decode(_: SecretsFile)`).
    public var records: ArraySlice<UInt8> = []
    /// The record area's length when `records` was not read.
    var unreadRecordArea: Int?

    /// Where the record area starts in the file, and its length.
    public var recordAreaStart: Int { headerLength + 28 + sealedBody.count }
    public var recordAreaLength: Int { unreadRecordArea ?? records.count }
    var headerLength: Int {
        25 + slots.reduce(0) { $0 + 9 + ($1.kind == .passphrase ? 33 : 0) + AEAD.nonceBytes + 48 }
    }

    public init(version: UInt8 = 2, vaultID: [UInt8], slots: [KeySlot], bodyNonce: [UInt8], sealedBody: [UInt8], records: ArraySlice<UInt8> = []) {
        self.version = version
        self.vaultID = vaultID
        self.slots = slots
        self.bodyNonce = bodyNonce
        self.sealedBody = sealedBody
        self.records = records
    }

    /// Every header byte: the associated data of the body (version 1) or the index (version 2).
    public func headerBytes() -> [UInt8] {
        var w = ByteWriter()
        w.raw(version == 1 ? Self.magicV1 : Self.magicV2)
        w.raw(vaultID)
        w.u8(UInt8(slots.count))
        for slot in slots {
            w.raw(slot.descriptor())
            w.raw(slot.nonce)
            w.raw(slot.wrappedKey)
        }
        return w.bytes
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter()
        w.bytes.reserveCapacity(sealedBody.count + records.count + 512)
        w.raw(headerBytes())
        w.raw(bodyNonce)
        w.u32(UInt32(sealedBody.count))
        w.raw(sealedBody)
        w.bytes.append(contentsOf: records)
        return w.bytes
    }

    /// `encode()` as two parts whose concatenation is the file: header through index, then the record area.
    public func encodedParts() -> [ArraySlice<UInt8>] {
        var w = ByteWriter()
        w.bytes.reserveCapacity(sealedBody.count + 512)
        w.raw(headerBytes())
        w.raw(bodyNonce)
        w.u32(UInt32(sealedBody.count))
        w.raw(sealedBody)
        return records.isEmpty ? [w.bytes[...]] : [w.bytes[...], records]
    }

    /// Parses bytes into a `VaultFile` without any cryptography; KDF parameters are not yet capped here
    /// (that happens before Argon2id runs) but they are recorded as read. A version-2 file's record area is checked
    /// against its index once the index is open (`VaultContents`).
    public static func decode(_ bytes: [UInt8]) throws -> VaultFile {
        if !bytes.isEmpty && bytes.count > maxFile { throw FormatError.tooLarge }
        var r = ByteReader(bytes)
        var (file, length) = try decodeThroughIndexLength(&r)
        file.sealedBody = try r.array(length)
        if file.version == 1 {
            guard r.remaining == 0 else { throw FormatError.trailingBytes }
        } else {
            file.records = bytes[r.offset...]
        }
        return file
    }

    /// The header and the index of an open file, without reading the records (version 2); a version-1 file's body
    /// is read whole.
    public static func decode(_ handle: any SealedInput) throws -> VaultFile {
        let prefix = try handle.read(0..<min(handle.size, maxHeader + 28))
        var r = ByteReader(prefix)
        var (file, length) = try decodeThroughIndexLength(&r)
        let start = r.offset
        guard start + length <= handle.size else { throw FormatError.truncated }
        file.sealedBody = try handle.read(start..<(start + length))
        if file.version == 1 {
            guard start + length == handle.size else { throw FormatError.trailingBytes }
        } else {
            file.unreadRecordArea = handle.size - start - length
        }
        return file
    }

    /// The longest header: eight passphrase slots.
    static let maxHeader = 25 + maxSlots * (9 + 33 + 24 + 48)

    /// Parses magic, vault id, slots, the body or index nonce and its length (the sealed bytes are not read here).
    static func decodeThroughIndexLength(_ r: inout ByteReader) throws -> (VaultFile, Int) {
        let bytes = r.bytes
        if bytes.isEmpty { throw FormatError.empty }
        let version: UInt8
        if bytes.starts(with: magicV1) {
            version = 1
        } else {
            try checkMagic(bytes, expected: magicV2)
            version = 2
        }
        _ = try r.take(magicV2.count)
        let vaultID = try r.array(16)
        let count = Int(try r.u8())
        guard count >= 1, count <= maxSlots else { throw FormatError.badSlotCount }
        var slots: [KeySlot] = []
        for _ in 0..<count {
            let rawKind = try r.u8()
            guard let kind = KeySlot.Kind(rawValue: rawKind) else { throw FormatError.unknownSlotType(rawKind) }
            let id = try r.array(8)
            var kdf: KDFParameters?
            var salt: [UInt8] = []
            if kind == .passphrase {
                let alg = try r.u8()
                guard alg == KeySlot.kdfArgon2id13 else { throw FormatError.unknownKDF(alg) }
                kdf = KDFParameters(opsLimit: try r.u64(), memLimit: try r.u64())
                salt = try r.array(PasswordHash.saltBytes)
            }
            let nonce = try r.array(AEAD.nonceBytes)
            let wrapped = try r.array(32 + AEAD.tagBytes)
            slots.append(KeySlot(kind: kind, id: id, kdf: kdf, salt: salt, nonce: nonce, wrappedKey: wrapped))
        }
        let bodyNonce = try r.array(AEAD.nonceBytes)
        let length = Int(try r.u32())
        guard length >= AEAD.tagBytes, length <= maxBody else {
            throw FormatError.length
        }
        return (VaultFile(version: version, vaultID: vaultID, slots: slots, bodyNonce: bodyNonce, sealedBody: []), length)
    }

    /// Distinguishes "not a vault" from "a vault of another version" by the magic line's `VAULT/` prefix.
    static func checkMagic(_ bytes: [UInt8], expected: [UInt8]) throws {
        if bytes.starts(with: expected) { return }
        let family = expected.prefix(while: { $0 != UInt8(ascii: "/") }) + [UInt8(ascii: "/")]
        if bytes.starts(with: family) {
            let rest = bytes.dropFirst(family.count).prefix(while: { $0 != 0x0a }).prefix(16)
            if rest.count < 16, bytes.count > family.count + rest.count {
                throw FormatError.unknownVersion(String(decoding: rest, as: UTF8.self))
            }
        }
        if bytes.count < expected.count, expected.starts(with: bytes) { throw FormatError.truncated }
        throw FormatError.badMagic
    }
}

/// What unlocks a vault: a passphrase or the 32 bytes of a key file.
public enum Credential: Sendable {
    case passphrase(SecretBytes)
    case keyFile(SecretBytes)
    /// The master key itself, as the unlock-once agent holds it, with the slot it was unlocked through. Checked
    /// against the file's authenticated index before use (a rekey since makes it fail cleanly).
    case unlockedKey(master: SecretBytes, kind: KeySlot.Kind, slot: Int)

    public var slotKind: KeySlot.Kind {
        switch self {
        case .passphrase: .passphrase
        case .keyFile: .keyFile
        case .unlockedKey(_, let kind, _): kind
        }
    }
}

/// Key-slot cryptography: wrapping and unwrapping the master key.
public enum KeySlots {
    static let keyFileLabel: [UInt8] = Array("vault key-file slot v1".utf8)

    /// The slot's wrapping key for `credential`, or nil when the credential is of another kind.
    static func wrappingKey(for slot: KeySlot, vaultID: [UInt8], credential: Credential) throws -> SecretBytes? {
        switch (credential, slot.kind) {
        case (.passphrase(let pass), .passphrase):
            guard let kdf = slot.kdf else { return nil }
            return try PasswordHash.deriveKey(passphrase: pass, salt: slot.salt, params: kdf)
        case (.keyFile(let key), .keyFile):
            return try KeyDerivation.keyedHash(key: key, message: keyFileLabel + vaultID + slot.id)
        default:
            return nil
        }
    }

    /// A slot's associated data starts with the version-1 magic line in every version: a migration keeps the slots
    /// it cannot rewrap (it holds one credential, not all), and the index's AD binds the header's own magic line.
    static func slotAD(_ slot: KeySlot, vaultID: [UInt8]) -> [UInt8] { VaultFile.magicV1 + vaultID + slot.descriptor() }

    /// Makes a new slot for `credential` that wraps `master`.
    public static func make(for credential: Credential, master: SecretBytes, vaultID: [UInt8], kdf: KDFParameters,
                            random: any RandomSource, id: [UInt8]? = nil) throws -> KeySlot {
        var slot = KeySlot(kind: credential.slotKind, id: id ?? random.bytes(8), kdf: nil, salt: [], nonce: [], wrappedKey: [])
        if slot.kind == .passphrase {
            try kdf.validate()
            slot.kdf = kdf
            slot.salt = random.bytes(PasswordHash.saltBytes)
        }
        slot.nonce = random.bytes(AEAD.nonceBytes)
        guard let kek = try wrappingKey(for: slot, vaultID: vaultID, credential: credential) else {
            throw VaultError("internal", "no wrapping key for a new slot")
        }
        slot.wrappedKey = try AEAD.seal(master, ad: slotAD(slot, vaultID: vaultID), nonce: slot.nonce, key: kek)
        return slot
    }

    /// True when `credential` unwraps `master` from `slot`.
    package static func opens(_ slot: KeySlot, vaultID: [UInt8], with credential: Credential, master: SecretBytes) throws -> Bool {
        guard let kek = try wrappingKey(for: slot, vaultID: vaultID, credential: credential),
              let m = try AEAD.open(slot.wrappedKey[...], ad: slotAD(slot, vaultID: vaultID), nonce: slot.nonce, key: kek) else { return false }
        return m.constantTimeEquals(master)
    }

    /// The most Argon2id work (passes × bytes, summed over the passphrase slots) one unlock may cost: one slot at the
    /// per-slot caps. Eight slots at the caps would be minutes of work a hostile file could ask for.
    public static let maxTotalKDFWork: UInt64 = KDFParameters.maxOpsLimit * KDFParameters.maxMemLimit

    /// Checks every passphrase slot's parameters, and their total, before any derivation.
    static func checkKDFWork(_ file: VaultFile) throws {
        var total: UInt64 = 0
        for slot in file.slots where slot.kind == .passphrase {
            guard let kdf = slot.kdf else { continue }
            try kdf.validate()
            total += kdf.opsLimit * kdf.memLimit // each within caps, so no overflow for 8 slots
        }
        guard total <= maxTotalKDFWork else {
            throw VaultError("format.kdf_params", "the vault's passphrase slots together ask for more key-derivation work than vault allows (\(total >> 20) MiB·passes > \(maxTotalKDFWork >> 20))")
        }
    }

    /// Tries every slot of the credential's kind; returns the master key and the index of the slot that opened.
    /// The KDF parameters of all slots, and their total work, are checked before any Argon2id work.
    public static func unlock(_ file: VaultFile, with credential: Credential) throws -> (master: SecretBytes, slot: Int) {
        if case .unlockedKey(let master, let kind, let slot) = credential {
            let key = try KeyDerivation.subkey(of: master, for: .secrets)
            guard master.count == 32, slot >= 0, slot < file.slots.count, file.slots[slot].kind == kind,
                  try AEAD.open(file.sealedBody[...], ad: file.headerBytes(), nonce: file.bodyNonce, key: key) != nil else {
                throw VaultError("unlock.agent_stale", "the key the agent holds no longer opens this vault (it was rekeyed or replaced)")
            }
            return (master, slot)
        }
        try checkKDFWork(file)
        var sawKind = false
        for (i, slot) in file.slots.enumerated() where slot.kind == credential.slotKind {
            sawKind = true
            guard let kek = try wrappingKey(for: slot, vaultID: file.vaultID, credential: credential) else { continue }
            if let master = try AEAD.open(slot.wrappedKey[...], ad: slotAD(slot, vaultID: file.vaultID), nonce: slot.nonce, key: kek),
               master.count == 32 {
                return (master, i)
            }
        }
        switch credential {
        case .passphrase:
            throw VaultError("unlock.failed", sawKind ? "the passphrase does not unlock this vault" : "this vault has no passphrase slot")
        case .keyFile:
            throw VaultError("unlock.failed", sawKind ? "the key file does not unlock this vault" : "this vault has no key-file slot")
        case .unlockedKey:
            throw VaultError("unlock.failed", "the agent's key does not unlock this vault", context: ["case": "agent"])
        }
    }
}
