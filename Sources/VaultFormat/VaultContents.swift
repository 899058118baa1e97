import FoundationEssentials
import VaultCrypto
import VaultErrors
import VaultRecords
#if canImport(Glibc)
import Glibc
#endif

/// The sealed bytes of one opened version-2 file, shared by its records: the file (in memory, or open for `pread`),
/// the decrypted index (names, nonces and lengths; no secrets), and the key the records are sealed under.
final class RecordSource: Sendable {
    enum Storage: Sendable {
        /// The whole file in memory (a write reads it whole: it carries every record over).
        case bytes([UInt8])
        /// The file open for reading: only the records asked for are read (`vault token` reads one).
        case file(any SealedInput)
    }
    let storage: Storage
    /// Where the record area starts in the file, and its length.
    let recordBase: Int
    let recordArea: Int
    /// The decrypted index: kinds, names, nonces and lengths (no secrets).
    let index: [UInt8]
    let key: SecretBytes
    let master: SecretBytes
    let vaultID: [UInt8]

    init(storage: Storage, recordBase: Int, recordArea: Int, index: [UInt8], key: SecretBytes, master: SecretBytes, vaultID: [UInt8]) {
        self.storage = storage
        self.recordBase = recordBase
        self.recordArea = recordArea
        self.index = index
        self.key = key
        self.master = master
        self.vaultID = vaultID
    }

    /// Lends the sealed bytes of `range` (offsets in the record area).
    func withSealed<R>(_ range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        switch storage {
        case .bytes(let file):
            return try file.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[(recordBase + range.lowerBound)..<(recordBase + range.upperBound)])) }
        case .file(let handle):
            let bytes = try handle.read((recordBase + range.lowerBound)..<(recordBase + range.upperBound))
            return try bytes.withUnsafeBytes(body)
        }
    }

    /// The record area's BLAKE2b-256 as the index states it.
    var areaHash: ArraySlice<UInt8> { index[8..<(8 + RecordCodec.areaHashBytes)] }

    /// Bytes holding the record area from `base`: the file itself when it is in memory (no copy).
    func areaBytes() throws -> (bytes: [UInt8], base: Int) {
        switch storage {
        case .bytes(let file): return (file, recordBase)
        case .file(let handle): return (try handle.read(recordBase..<(recordBase + recordArea)), 0)
        }
    }
}

/// A record still sealed in the file it was read from: opened only when asked for.
struct SealedRecord: Sendable {
    let source: RecordSource
    /// The nonce's range in `source.index`, the sealed bytes' range in the record area.
    let nonce: Range<Int>
    let sealed: Range<Int>

    var plaintextCount: Int { sealed.count - AEAD.tagBytes }

    /// Decrypts `sealedBytes` (this record's) into `output` (exactly `plaintextCount` bytes); false when the record
    /// fails authentication.
    func open(kind: String, name: String, sealedBytes: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws -> Bool {
        let ad = RecordCodec.recordAD(vaultID: source.vaultID, kind: kind, name: name)
        return try source.index.withUnsafeBytes { index in
            try AEAD.open(sealedBytes, ad: ad, nonce: UnsafeRawBufferPointer(rebasing: index[nonce]), key: source.key, into: output)
        }
    }

    func open(kind: String, name: String, into output: UnsafeMutableRawBufferPointer) throws -> Bool {
        try source.withSealed(sealed) { try open(kind: kind, name: name, sealedBytes: $0, into: output) }
    }

    func open(kind: String, name: String) throws -> StoredRecord {
        let plain = SecretBytes(count: plaintextCount)
        guard try plain.withUnsafeMutableBytes({ try open(kind: kind, name: name, into: $0) }) else {
            throw FormatError.damagedRecords.vaultError
        }
        do { return try RecordCodec.decodeRecord(plain, kind: kind, name: name) } catch let e as FormatError { throw e.vaultError }
    }

    var nonceBytes: [UInt8] { source.index.withUnsafeBytes { Array($0[nonce]) } }
}

/// A version-2 index as read: entries are found by comparing bytes, and strings are made only for the entries a
/// caller lists, so finding one app among 10,000 allocates nothing per entry.
struct IndexView: Sendable {
    let source: RecordSource
    /// Where each entry starts in the index, and where its record starts in the record area.
    let entries: [Int32]
    let records: [Int32]

    var count: Int { entries.count }

    func kindRange(_ i: Int) -> Range<Int> {
        let at = Int(entries[i])
        return (at + 1)..<(at + 1 + Int(source.index[at]))
    }

    func nameRange(_ i: Int) -> Range<Int> {
        let at = kindRange(i).upperBound
        return (at + 2)..<(at + 2 + (Int(source.index[at]) | Int(source.index[at + 1]) << 8))
    }

    func text(_ range: Range<Int>) -> String {
        source.index.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[range]), as: UTF8.self) }
    }

    func sealed(_ i: Int) -> SealedRecord {
        let nonce = nameRange(i).upperBound
        let lengthAt = nonce + AEAD.nonceBytes
        let b = source.index
        let length = Int(b[lengthAt]) | Int(b[lengthAt + 1]) << 8 | Int(b[lengthAt + 2]) << 16 | Int(b[lengthAt + 3]) << 24
        let start = Int(records[i])
        return SealedRecord(source: source, nonce: nonce..<lengthAt, sealed: start..<(start + length))
    }

    func entry(_ i: Int) -> VaultContents.Entry {
        VaultContents.Entry(kind: text(kindRange(i)), name: text(nameRange(i)), body: .sealed(sealed(i)))
    }

    func matches(_ i: Int, _ range: Range<Int>, _ bytes: [UInt8]) -> Bool {
        range.count == bytes.count && source.index.withUnsafeBufferPointer { b in
            bytes.withUnsafeBufferPointer { q in memcmp(b.baseAddress! + range.lowerBound, q.baseAddress!, q.count) == 0 }
        }
    }

    func first(kind: String, name: String) -> Int? {
        let k = Array(kind.utf8), n = Array(name.utf8)
        guard !k.isEmpty else { return nil }
        for i in 0..<count where matches(i, kindRange(i), k) && matches(i, nameRange(i), n) { return i }
        return nil
    }

    /// Whether two entries share a kind and name (FORMAT.md §4.2: writers refuse that, readers too). One 64-bit hash
    /// per entry, sorted; bytes are compared only when two hashes meet. Sorted rather than kept in a dictionary: the
    /// first `Dictionary<UInt64, …>` of a process costs a scan of every protocol conformance in the binary, a
    /// measurable part of a warm `vault token` (issue 27).
    func hasDuplicate() -> Bool {
        guard count > 1 else { return false }
        var hashes: [(hash: UInt64, entry: Int)] = []
        hashes.reserveCapacity(count)
        for i in 0..<count {
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            source.index.withUnsafeBufferPointer { b in
                for byte in b[kindRange(i)] { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
                h = (h ^ 0xff) &* 0x100_0000_01b3
                for byte in b[nameRange(i)] { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
            }
            hashes.append((h, i))
        }
        hashes.sort { $0.hash < $1.hash }
        var start = 0
        while start < hashes.count {
            var end = start + 1
            while end < hashes.count, hashes[end].hash == hashes[start].hash { end += 1 }
            for a in start..<end {
                for b in (a + 1)..<end {
                    let i = hashes[a].entry, j = hashes[b].entry
                    if source.index[kindRange(i)] == source.index[kindRange(j)] && source.index[nameRange(i)] == source.index[nameRange(j)] {
                        return true
                    }
                }
            }
            start = end
        }
        return false
    }

    func names(kind: String) -> [String] {
        let k = Array(kind.utf8)
        return (0..<count).compactMap { matches($0, kindRange($0), k) ? text(nameRange($0)) : nil }
    }
}

/// The records of the secrets file. Opened from a version-2 file, each record stays sealed until it is read, so
/// looking up one app costs one record's decryption whatever the vault holds; a write re-seals only the records that
/// changed (docs/FORMAT.md §4.2). Opened from a version-1 file, every record is already open.
public struct VaultContents: Sendable {
    enum Body: Sendable {
        case sealed(SealedRecord)
        case open(StoredRecord)
    }
    struct Entry: Sendable {
        var kind: String
        var name: String
        var body: Body
    }
    /// The records, once read as entries (or changed); while `view` is set, it is the truth and this is empty.
    var entries: [Entry] = []
    var view: IndexView?
    /// Whether two records may share a kind and name: only contents built from a list of records (a version-1 body,
    /// a test) can; `put` replaces, and a version-2 index comes from a writer that refused duplicates.
    var mayRepeat = false

    public init(records: [StoredRecord] = []) {
        entries = records.map { Entry(kind: $0.kind, name: $0.name, body: .open($0)) }
        mayRepeat = records.count > 1
    }

    init(view: IndexView) { self.view = view }

    /// Every entry, in order (made from the view when there is one).
    var allEntries: [Entry] { view.map { v in (0..<v.count).map(v.entry) } ?? entries }

    /// Turns the view into entries before a change.
    mutating func materialize() {
        if let v = view {
            entries = (0..<v.count).map(v.entry)
            view = nil
        }
    }

    /// How many records there are (apps, rotation journals, …), without opening any.
    public var count: Int { view?.count ?? entries.count }

    /// Every record, opened (one locked buffer for all that were sealed).
    public var records: [StoredRecord] {
        get throws { try Self.open(allEntries) }
    }

    /// The names of the records of `kind`, in file order, without opening any.
    public func names(kind: String) -> [String] {
        if let view { return view.names(kind: kind) }
        return entries.compactMap { $0.kind == kind ? $0.name : nil }
    }

    public func contains(kind: String, name: String) -> Bool {
        if let view { return view.first(kind: kind, name: name) != nil }
        return entries.contains { $0.kind == kind && $0.name == name }
    }

    public func record(kind: String, name: String) throws -> StoredRecord? {
        if let view {
            guard let i = view.first(kind: kind, name: name) else { return nil }
            return try view.sealed(i).open(kind: kind, name: name)
        }
        guard let entry = entries.first(where: { $0.kind == kind && $0.name == name }) else { return nil }
        switch entry.body {
        case .open(let r): return r
        case .sealed(let s): return try s.open(kind: kind, name: name)
        }
    }

    // MARK: apps

    public var apps: [StoredApp] {
        get throws { try Self.open(allEntries.filter { $0.kind == "app" }).compactMap(Self.storedApp) }
    }

    public func app(named name: String) throws -> StoredApp? {
        try record(kind: "app", name: name).flatMap(Self.storedApp)
    }

    static func storedApp(_ r: StoredRecord) -> StoredApp? {
        let certificateKey = r.secrets[StoredApp.certificateKeyName]
        guard r.kind == "app",
              let meta = MetadataDecoding.decode(r.metadata) ?? (try? Self.decoder.decode(AppMetadata.self, from: Data(r.metadata))),
              r.secrets[StoredApp.secretName] != nil || certificateKey != nil || meta.backend != nil || meta.federated != nil else { return nil }
        return StoredApp(metadata: meta, secret: r.secrets[StoredApp.secretName], previous: r.secrets[StoredApp.previousName],
                         certificateKey: certificateKey)
    }

    /// Inserts or replaces the app record `app.metadata.name` with exactly the credentials `app` holds.
    public mutating func putApp(_ app: StoredApp) throws {
        var secrets: [String: SecretBytes] = [:]
        secrets[StoredApp.secretName] = app.secret
        secrets[StoredApp.previousName] = app.previous
        secrets[StoredApp.certificateKeyName] = app.certificateKey
        guard !secrets.isEmpty || app.metadata.backend != nil || app.metadata.federated != nil else {
            throw VaultError("vault.record", "internal error: app '\(app.metadata.name)' would hold no credential; nothing was changed")
        }
        put(StoredRecord(kind: "app", name: app.metadata.name, metadata: Array(try Self.encoder.encode(app.metadata)), secrets: secrets))
    }

    /// Sets the client secret (and the one it replaced) of app `metadata.name`, keeping a certificate it holds.
    public mutating func putApp(_ metadata: AppMetadata, secret: SecretBytes, previous: SecretBytes? = nil) throws {
        let certificateKey = try app(named: metadata.name)?.certificateKey
        try putApp(StoredApp(metadata: metadata, secret: secret, previous: previous, certificateKey: certificateKey))
    }

    public mutating func put(_ record: StoredRecord) {
        materialize()
        let entry = Entry(kind: record.kind, name: record.name, body: .open(record))
        if let i = entries.firstIndex(where: { $0.kind == record.kind && $0.name == record.name }) {
            entries[i] = entry
        } else {
            entries.append(entry)
        }
    }

    @discardableResult
    public mutating func remove(kind: String, name: String) -> Bool {
        materialize()
        let before = entries.count
        entries.removeAll { $0.kind == kind && $0.name == name }
        return entries.count != before
    }

    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        // Whole Unix seconds, as docs/FORMAT.md §4.3 and the vectors have them (the fraction is dropped).
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            let seconds = date.timeIntervalSince1970
            try c.encode(seconds.isFinite ? Int64(max(-1e15, min(1e15, seconds)).rounded(.down)) : 0)
        }
        return e
    }()
    public static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .secondsSince1970
        return d
    }()

    /// The fast metadata path's answer and `JSONDecoder`'s for the same bytes (for the tests and the fuzz harness:
    /// whenever the fast path answers, the two must agree).
    public static func metadataDecodings(_ bytes: [UInt8]) -> (fast: AppMetadata?, reference: AppMetadata?) {
        (MetadataDecoding.decode(bytes), try? decoder.decode(AppMetadata.self, from: Data(bytes)))
    }

    // MARK: opening and checks

    /// Opens `entries` into records; the sealed ones share one locked buffer, and each file's record area is read once.
    static func open(_ entries: [Entry]) throws -> [StoredRecord] {
        var total = 0
        for e in entries { if case .sealed(let s) = e.body { total += s.plaintextCount } }
        let buffer = SecretBytes(count: total)
        var areas: [ObjectIdentifier: (bytes: [UInt8], base: Int)] = [:]
        var offset = 0
        var out: [StoredRecord] = []
        out.reserveCapacity(entries.count)
        for e in entries {
            switch e.body {
            case .open(let r):
                out.append(r)
            case .sealed(let s):
                let id = ObjectIdentifier(s.source)
                if areas[id] == nil { areas[id] = try s.source.areaBytes() }
                let (bytes, base) = areas[id]!
                let range = offset..<(offset + s.plaintextCount)
                let ok = try bytes.withUnsafeBytes { file in
                    let area = UnsafeRawBufferPointer(rebasing: file[base...])
                    return try buffer.withUnsafeMutableBytes { all in
                        try s.open(kind: e.kind, name: e.name, sealedBytes: UnsafeRawBufferPointer(rebasing: area[s.sealed]),
                                   into: UnsafeMutableRawBufferPointer(rebasing: all[range]))
                    }
                }
                guard ok else { throw FormatError.damagedRecords.vaultError }
                do { out.append(try RecordCodec.decodeRecord(buffer.view(range), kind: e.kind, name: e.name)) } catch let f as FormatError {
                    throw f.vaultError
                }
                offset = range.upperBound
            }
        }
        return out
    }

    /// Refuses contents a reader would refuse (record count, length fields, duplicates), so a write never produces a
    /// file vault cannot open again.
    public func checkEncodable() throws {
        let entries = allEntries
        guard entries.count <= RecordCodec.maxRecords else {
            throw VaultError("vault.full", "the vault would hold \(entries.count) records; at most \(RecordCodec.maxRecords) are allowed, so nothing was changed")
        }
        struct Key: Hashable { var kind: String, name: String }
        var seen = Set<Key>()
        if mayRepeat { seen.reserveCapacity(entries.count) }
        for e in entries {
            guard !e.kind.isEmpty, e.kind.utf8.count <= 255, e.name.utf8.count <= RecordCodec.maxNameBytes,
                  !mayRepeat || seen.insert(Key(kind: e.kind, name: e.name)).inserted else {
                throw VaultError("vault.record", "internal error: a record of kind \(e.kind.prefix(32)) cannot be encoded; nothing was changed")
            }
            if case .open(let r) = e.body {
                guard r.secrets.count <= 255, r.secrets.keys.allSatisfy({ $0.utf8.count <= 255 }), r.metadata.count <= Int(UInt32.max) else {
                    throw VaultError("vault.record", "internal error: a record of kind \(e.kind.prefix(32)) cannot be encoded; nothing was changed")
                }
            }
        }
    }
}
