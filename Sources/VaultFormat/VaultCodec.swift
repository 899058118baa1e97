import VaultCrypto
import VaultErrors
import VaultRecords

/// Pure functions from credentials and contents to file bytes and back (no I/O).
public enum VaultCodec {
    /// A new vault: random master key and id, one slot per credential, the given contents sealed.
    public static func create(credentials: [Credential], contents: VaultContents = VaultContents(),
                              kdf: KDFParameters = .default, random: any RandomSource = SystemRandom(),
                              version: UInt8 = 2) throws -> (bytes: [UInt8], master: SecretBytes) {
        guard !credentials.isEmpty else { throw VaultError("internal", "a vault needs at least one key slot") }
        var masterBytes = random.bytes(32)
        let master = SecretBytes(consuming: &masterBytes)
        let vaultID = random.bytes(16)
        var slots: [KeySlot] = []
        for c in credentials {
            slots.append(try KeySlots.make(for: c, master: master, vaultID: vaultID, kdf: kdf, random: random))
        }
        let empty = VaultFile(version: version, vaultID: vaultID, slots: slots, bodyNonce: [], sealedBody: [])
        let file = version == 1 ? try sealVersion1(contents, into: empty, master: master, random: random)
                                : try seal(contents, into: empty, master: master, random: random)
        return (file.encode(), master)
    }

    /// Seals `contents` as a version-2 file with the file's header (a version-1 file is migrated here): a new
    /// index under the secrets subkey with a fresh nonce and the header as associated data, and each record sealed
    /// under the records subkey (§4.2). A record carried over unchanged from the file it was read from keeps its nonce
    /// and bytes, after its authentication is checked: a write never carries a damaged record into a new file.
    public static func seal(_ contents: VaultContents, into file: VaultFile, master: SecretBytes,
                            random: any RandomSource = SystemRandom()) throws -> VaultFile {
        try contents.checkEncodable()
        guard (1...VaultFile.maxSlots).contains(file.slots.count) else {
            throw VaultError("slots.full", "a vault holds 1 to \(VaultFile.maxSlots) key slots, not \(file.slots.count)")
        }
        var out = file
        out.version = 2
        let recordKey = try KeyDerivation.subkey(of: master, for: .records)
        let entries = contents.allEntries
        var sameKey: [ObjectIdentifier: Bool] = [:]
        func carries(_ s: SealedRecord) -> Bool {
            let id = ObjectIdentifier(s.source)
            if let known = sameKey[id] { return known }
            let same = s.source.vaultID == file.vaultID && s.source.master.constantTimeEquals(master)
            sameKey[id] = same
            return same
        }
        var scratchSize = 0
        var areaSize = 0
        for e in entries {
            switch e.body {
            case .sealed(let s):
                scratchSize = max(scratchSize, s.plaintextCount)
                areaSize += s.sealed.count
            case .open(let r):
                let size = RecordCodec.recordSize(r)
                scratchSize = max(scratchSize, size)
                areaSize += size + AEAD.tagBytes
            }
        }
        let scratch = SecretBytes(count: scratchSize)
        var index = ByteWriter()
        index.raw(RecordCodec.indexMagic)
        index.u32(UInt32(entries.count))
        let hashAt = index.bytes.count
        index.raw([UInt8](repeating: 0, count: RecordCodec.areaHashBytes))
        var area: [UInt8] = []
        // Sized once: growing a multi-megabyte array by doubling copies it, and touches fresh pages, several times.
        area.reserveCapacity(min(areaSize, VaultFile.maxFile))
        // The record area of each file records are carried over from, read once.
        var areas: [ObjectIdentifier: (bytes: [UInt8], base: Int)] = [:]
        var verified: Set<ObjectIdentifier> = []
        func areaOf(_ source: RecordSource) throws -> (bytes: [UInt8], base: Int) {
            let id = ObjectIdentifier(source)
            if let known = areas[id] { return known }
            let a = try source.areaBytes()
            areas[id] = a
            return a
        }
        // The new record area begins with the records carried over unchanged from the start of one file's area (all
        // of it, when an app is added). That shared prefix is hashed once: the old area's hash (checked against its
        // index before anything is carried) and the new one both continue from it.
        var prefixSource: RecordSource?
        var prefixLength = 0
        for e in entries {
            guard case .sealed(let s) = e.body, carries(s), prefixSource.map({ $0 === s.source }) ?? true,
                  s.sealed.lowerBound == prefixLength else { break }
            prefixSource = s.source
            prefixLength = s.sealed.upperBound
        }
        let newHash = StreamingHash(length: RecordCodec.areaHashBytes)
        if let source = prefixSource {
            let a = try areaOf(source)
            let ok = a.bytes.withUnsafeBytes { all in
                let old = UnsafeRawBufferPointer(rebasing: all[a.base..<(a.base + source.recordArea)])
                newHash.update(UnsafeRawBufferPointer(rebasing: old[0..<prefixLength]))
                let rest = newHash.fork()
                rest.update(UnsafeRawBufferPointer(rebasing: old[prefixLength...]))
                return rest.finish()[...] == source.areaHash
            }
            guard ok else { throw FormatError.damagedRecords.vaultError }
            verified.insert(ObjectIdentifier(source))
        }
        func tooLarge() -> VaultError {
            VaultError("vault.full", "the vault's contents would exceed \(VaultFile.maxFile >> 20) MiB, the most a reader accepts; nothing was changed")
        }
        for e in entries {
            let nonce: [UInt8]
            let length: Int
            var fresh: StoredRecord?
            switch e.body {
            case .sealed(let s) where carries(s):
                let id = ObjectIdentifier(s.source)
                let a = try areaOf(s.source)
                if !verified.contains(id) {
                    // Once per file: the record area must be the one its authenticated index commits to.
                    let hash = a.bytes.withUnsafeBytes { RecordCodec.areaHash(UnsafeRawBufferPointer(rebasing: $0[a.base..<(a.base + s.source.recordArea)])) }
                    guard hash[...] == s.source.areaHash else { throw FormatError.damagedRecords.vaultError }
                    verified.insert(id)
                }
                nonce = s.nonceBytes
                length = s.sealed.count
                area.append(contentsOf: a.bytes[(a.base + s.sealed.lowerBound)..<(a.base + s.sealed.upperBound)])
            case .sealed(let s):
                fresh = try s.open(kind: e.kind, name: e.name)
                fallthrough
            case .open:
                if fresh == nil, case .open(let r) = e.body { fresh = r }
                let record = fresh!
                let size = RecordCodec.recordSize(record)
                guard size + AEAD.tagBytes <= VaultFile.maxBody else { throw tooLarge() }
                nonce = random.bytes(AEAD.nonceBytes)
                let ad = RecordCodec.recordAD(vaultID: file.vaultID, kind: e.kind, name: e.name)
                let bytes = try scratch.withUnsafeMutableBytes { buf in
                    let plain = UnsafeMutableRawBufferPointer(rebasing: buf[0..<size])
                    RecordCodec.writeRecord(record, into: plain)
                    return try AEAD.seal(UnsafeRawBufferPointer(plain), ad: ad, nonce: nonce, key: recordKey)
                }
                length = bytes.count
                area.append(contentsOf: bytes)
            }
            index.u8(UInt8(e.kind.utf8.count)); index.bytes.append(contentsOf: e.kind.utf8)
            index.u16(UInt16(e.name.utf8.count)); index.bytes.append(contentsOf: e.name.utf8)
            index.raw(nonce)
            index.u32(UInt32(length))
            guard area.count <= VaultFile.maxFile else { throw tooLarge() }
        }
        guard index.bytes.count + AEAD.tagBytes <= VaultFile.maxBody else { throw tooLarge() }
        let hash: [UInt8] = area.withUnsafeBytes { bytes in
            newHash.update(UnsafeRawBufferPointer(rebasing: bytes[prefixLength...]))
            return newHash.finish()
        }
        index.bytes.replaceSubrange(hashAt..<(hashAt + RecordCodec.areaHashBytes), with: hash)
        out.bodyNonce = random.bytes(AEAD.nonceBytes)
        let key = try KeyDerivation.subkey(of: master, for: .secrets)
        out.sealedBody = try index.bytes.withUnsafeBytes { try AEAD.seal($0, ad: out.headerBytes(), nonce: out.bodyNonce, key: key) }
        out.records = area[...]
        guard out.records.count + out.sealedBody.count + 1024 <= VaultFile.maxFile else { throw tooLarge() }
        return out
    }

    /// A record as raw bytes, for the test vectors: its kind and name as they go into the index and the AD, and its
    /// whole plaintext (flags, metadata, secrets), which may break any rule a reader checks after authentication.
    public struct RawRecord: Sendable {
        public var kind: [UInt8]
        public var name: [UInt8]
        public var plaintext: [UInt8]
        public init(kind: [UInt8], name: [UInt8], plaintext: [UInt8]) {
            self.kind = kind
            self.name = name
            self.plaintext = plaintext
        }
    }

    /// For the test vectors only (`vault-vectors`): a version-2 file with the header of `file` and exactly these
    /// records, each sealed correctly, the index committing to the record area (`count` overrides its entry count). A
    /// vector made this way passes every check up to the rule it breaks, so a reader's per-record rules are reached.
    public static func sealRawVersion2(_ bytes: [UInt8], master: SecretBytes, records: [RawRecord], count: UInt32? = nil,
                                       random: any RandomSource) throws -> [UInt8] {
        var file = try VaultFile.decode(bytes)
        let recordKey = try KeyDerivation.subkey(of: master, for: .records)
        var index = ByteWriter()
        index.raw(RecordCodec.indexMagic)
        index.u32(count ?? UInt32(records.count))
        let hashAt = index.bytes.count
        index.raw([UInt8](repeating: 0, count: RecordCodec.areaHashBytes))
        var area: [UInt8] = []
        for r in records {
            let nonce = random.bytes(AEAD.nonceBytes)
            var ad = ByteWriter()
            ad.raw(file.vaultID)
            ad.u8(UInt8(r.kind.count)); ad.raw(r.kind)
            ad.u16(UInt16(r.name.count)); ad.raw(r.name)
            let sealed = try r.plaintext.withUnsafeBytes { try AEAD.seal($0, ad: ad.bytes, nonce: nonce, key: recordKey) }
            area += sealed
            index.u8(UInt8(r.kind.count)); index.raw(r.kind)
            index.u16(UInt16(r.name.count)); index.raw(r.name)
            index.raw(nonce)
            index.u32(UInt32(sealed.count))
        }
        let hash = area.withUnsafeBytes { RecordCodec.areaHash($0) }
        index.bytes.replaceSubrange(hashAt..<(hashAt + RecordCodec.areaHashBytes), with: hash)
        file.version = 2
        file.bodyNonce = random.bytes(AEAD.nonceBytes)
        let key = try KeyDerivation.subkey(of: master, for: .secrets)
        file.sealedBody = try index.bytes.withUnsafeBytes { try AEAD.seal($0, ad: file.headerBytes(), nonce: file.bodyNonce, key: key) }
        file.records = area[...]
        return file.encode()
    }

    /// Seals `contents` as a version-1 file (one body, docs/FORMAT.md §4.1). vault no longer writes version 1; this is
    /// kept for the test vectors and the migration tests, which need files as earlier versions wrote them.
    public static func sealVersion1(_ contents: VaultContents, into file: VaultFile, master: SecretBytes,
                                    random: any RandomSource = SystemRandom()) throws -> VaultFile {
        let records = try contents.records
        guard records.count <= RecordCodec.maxRecordsV1 else { throw VaultError("vault.full", "a version-1 vault holds at most \(RecordCodec.maxRecordsV1) records", context: ["case": "v1"]) }
        var out = file
        out.version = 1
        out.records = []
        out.bodyNonce = random.bytes(AEAD.nonceBytes)
        let key = try KeyDerivation.subkey(of: master, for: .secrets)
        out.sealedBody = try AEAD.seal(RecordCodec.encodeV1(records), ad: out.headerBytes(), nonce: out.bodyNonce, key: key)
        return out
    }

    /// Opens the index (version 2) or the body (version 1) with the master key; a failure here means the sealed bytes
    /// or the header were changed. Version-2 records stay sealed until they are read.
    public static func open(_ file: VaultFile, master: SecretBytes, bytes: [UInt8]? = nil) throws -> VaultContents {
        try open(file, master: master, storage: .bytes(bytes ?? file.encode()))
    }

    static func open(_ file: VaultFile, master: SecretBytes, storage: RecordSource.Storage) throws -> VaultContents {
        let key = try KeyDerivation.subkey(of: master, for: .secrets)
        if file.version == 1 {
            guard let plain = try AEAD.open(file.sealedBody[...], ad: file.headerBytes(), nonce: file.bodyNonce, key: key) else {
                throw FormatError.damagedBody.vaultError
            }
            do {
                let records = try RecordCodec.decodeV1(plain)
                struct Key: Hashable { var kind: String, name: String }
                var seen = Set<Key>()
                for r in records where !seen.insert(Key(kind: r.kind, name: r.name)).inserted { throw FormatError.duplicateRecord }
                return VaultContents(records: records)
            } catch let e as FormatError { throw e.vaultError }
        }
        // The index holds no secret (names, nonces, lengths): it is opened into ordinary memory.
        let sealed = file.sealedBody
        var ok = false
        let index = try [UInt8](unsafeUninitializedCapacity: sealed.count - AEAD.tagBytes) { buf, count in
            count = buf.count
            ok = try sealed.withUnsafeBytes { ct in
                try file.bodyNonce.withUnsafeBytes { nonce in
                    try AEAD.open(ct, ad: file.headerBytes(), nonce: nonce, key: key, into: UnsafeMutableRawBufferPointer(buf))
                }
            }
        }
        guard ok else { throw FormatError.damagedBody.vaultError }
        do {
            let (entries, records) = try RecordCodec.scanIndex(index, recordArea: file.recordAreaLength)
            let source = RecordSource(storage: storage, recordBase: file.recordAreaStart, recordArea: file.recordAreaLength, index: index,
                                      key: try KeyDerivation.subkey(of: master, for: .records), master: master, vaultID: file.vaultID)
            let view = IndexView(source: source, entries: entries, records: records)
            if view.hasDuplicate() { throw FormatError.duplicateRecord }
            return VaultContents(view: view)
        } catch let e as FormatError { throw e.vaultError }
    }

    /// Decode + unlock + open, reading from an open file only the header, the index and (later) the records asked for.
    public static func unlockAndOpen(_ handle: any SealedInput, with credential: Credential) throws -> UnlockedVault {
        let file: VaultFile
        do { file = try VaultFile.decode(handle) } catch let e as FormatError { throw e.vaultError }
        if file.version == 1 { return try unlockAndOpen(try handle.read(0..<handle.size), with: credential) }
        let (master, slot) = try KeySlots.unlock(file, with: credential)
        let contents = try open(file, master: master, storage: .file(handle))
        return UnlockedVault(file: file, master: master, contents: contents, openedSlot: slot)
    }

    /// Decode + unlock + open in one step, mapping format errors to `VaultError`s.
    public static func unlockAndOpen(_ bytes: [UInt8], with credential: Credential) throws -> UnlockedVault {
        let file: VaultFile
        do { file = try VaultFile.decode(bytes) } catch let e as FormatError { throw e.vaultError }
        let (master, slot) = try KeySlots.unlock(file, with: credential)
        let contents = try open(file, master: master, bytes: bytes)
        return UnlockedVault(file: file, master: master, contents: contents, openedSlot: slot)
    }
}

/// Where a version-2 file's parts are (absolute byte ranges), for tests and the vector generator.
public struct VaultLayout: Sendable {
    /// The sealed index (after its nonce and length).
    public var index: Range<Int>
    /// Each record's sealed bytes, in index order, with its kind and name.
    public var records: [Range<Int>]
    public var names: [(kind: String, name: String)]
    public var indexStart: Int { index.lowerBound }
}

extension VaultCodec {
    public static func layout(of bytes: [UInt8], master: SecretBytes) throws -> VaultLayout {
        let file: VaultFile
        do { file = try VaultFile.decode(bytes) } catch let e as FormatError { throw e.vaultError }
        let contents = try open(file, master: master, bytes: bytes)
        let areaStart = file.recordAreaStart
        var ranges: [Range<Int>] = []
        var names: [(kind: String, name: String)] = []
        for e in contents.allEntries {
            guard case .sealed(let s) = e.body else { continue }
            ranges.append((areaStart + s.sealed.lowerBound)..<(areaStart + s.sealed.upperBound))
            names.append((e.kind, e.name))
        }
        return VaultLayout(index: (areaStart - file.sealedBody.count)..<areaStart, records: ranges, names: names)
    }
}

/// A vault opened in memory: the parsed file, its master key and decrypted records.
public struct UnlockedVault: Sendable {
    public var file: VaultFile
    public let master: SecretBytes
    public var contents: VaultContents
    public let openedSlot: Int

    /// The file bytes for the current contents and slots (new body nonce).
    public func sealed(random: any RandomSource = SystemRandom()) throws -> [UInt8] {
        try VaultCodec.seal(contents, into: file, master: master, random: random).encode()
    }

    /// The same bytes as `sealed`, as the header and index, then the record area: written one after the other, so
    /// the record area is never copied into one more buffer.
    public func sealedParts(random: any RandomSource = SystemRandom()) throws -> [ArraySlice<UInt8>] {
        try VaultCodec.seal(contents, into: file, master: master, random: random).encodedParts()
    }
}
