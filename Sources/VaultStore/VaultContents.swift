import FoundationEssentials
import VaultCrypto

/// The sealed bytes of one opened version-2 file, shared by its records: the file (in memory, or open for `pread`),
/// the decrypted index (names, nonces and lengths; no secrets), and the key the records are sealed under.
final class RecordSource: Sendable {
    enum Storage: Sendable {
        /// The whole file in memory (a write reads it whole: it carries every record over).
        case bytes([UInt8])
        /// The file open for reading: only the records asked for are read (`vault token` reads one).
        case file(SecretsFile)
    }
    let storage: Storage
    /// Where the record area starts in the file, and its length.
    let recordBase: Int
    let recordArea: Int
    let index: SecretBytes
    let key: SecretBytes
    let master: SecretBytes
    let vaultID: [UInt8]

    init(storage: Storage, recordBase: Int, recordArea: Int, index: SecretBytes, key: SecretBytes, master: SecretBytes, vaultID: [UInt8]) {
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

    /// The whole record area, read once (opening every record).
    func area() throws -> [UInt8] {
        switch storage {
        case .bytes(let file): return Array(file[recordBase..<(recordBase + recordArea)])
        case .file(let handle): return try handle.read(recordBase..<(recordBase + recordArea))
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
    var entries: [Entry] = []

    public init(records: [StoredRecord] = []) {
        entries = records.map { Entry(kind: $0.kind, name: $0.name, body: .open($0)) }
    }

    init(entries: [Entry]) { self.entries = entries }

    /// How many records there are (apps, rotation journals, …), without opening any.
    public var count: Int { entries.count }

    /// Every record, opened (one locked buffer for all that were sealed).
    public var records: [StoredRecord] {
        get throws { try Self.open(entries) }
    }

    /// The names of the records of `kind`, in file order, without opening any.
    public func names(kind: String) -> [String] { entries.compactMap { $0.kind == kind ? $0.name : nil } }

    public func contains(kind: String, name: String) -> Bool { entries.contains { $0.kind == kind && $0.name == name } }

    public func record(kind: String, name: String) throws -> StoredRecord? {
        guard let entry = entries.first(where: { $0.kind == kind && $0.name == name }) else { return nil }
        switch entry.body {
        case .open(let r): return r
        case .sealed(let s): return try s.open(kind: kind, name: name)
        }
    }

    // MARK: apps

    public var apps: [StoredApp] {
        get throws { try Self.open(entries.filter { $0.kind == "app" }).compactMap(Self.storedApp) }
    }

    public func app(named name: String) throws -> StoredApp? {
        try record(kind: "app", name: name).flatMap(Self.storedApp)
    }

    static func storedApp(_ r: StoredRecord) -> StoredApp? {
        let certificateKey = r.secrets[StoredApp.certificateKeyName]
        guard r.kind == "app", r.secrets[StoredApp.secretName] != nil || certificateKey != nil,
              let meta = MetadataDecoding.decode(r.metadata) ?? (try? Self.decoder.decode(AppMetadata.self, from: Data(r.metadata))) else { return nil }
        return StoredApp(metadata: meta, secret: r.secrets[StoredApp.secretName], previous: r.secrets[StoredApp.previousName],
                         certificateKey: certificateKey)
    }

    /// Inserts or replaces the app record `app.metadata.name` with exactly the credentials `app` holds.
    public mutating func putApp(_ app: StoredApp) throws {
        var secrets: [String: SecretBytes] = [:]
        secrets[StoredApp.secretName] = app.secret
        secrets[StoredApp.previousName] = app.previous
        secrets[StoredApp.certificateKeyName] = app.certificateKey
        guard !secrets.isEmpty else {
            throw VaultError("vault.record", "internal error: app '\(app.metadata.name)' would hold no credential; nothing was changed", exit: .software)
        }
        put(StoredRecord(kind: "app", name: app.metadata.name, metadata: Array(try Self.encoder.encode(app.metadata)), secrets: secrets))
    }

    /// Sets the client secret (and the one it replaced) of app `metadata.name`, keeping a certificate it holds.
    public mutating func putApp(_ metadata: AppMetadata, secret: SecretBytes, previous: SecretBytes? = nil) throws {
        let certificateKey = try app(named: metadata.name)?.certificateKey
        try putApp(StoredApp(metadata: metadata, secret: secret, previous: previous, certificateKey: certificateKey))
    }

    public mutating func put(_ record: StoredRecord) {
        let entry = Entry(kind: record.kind, name: record.name, body: .open(record))
        if let i = entries.firstIndex(where: { $0.kind == record.kind && $0.name == record.name }) {
            entries[i] = entry
        } else {
            entries.append(entry)
        }
    }

    @discardableResult
    public mutating func remove(kind: String, name: String) -> Bool {
        let before = entries.count
        entries.removeAll { $0.kind == kind && $0.name == name }
        return entries.count != before
    }

    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.dateEncodingStrategy = .secondsSince1970
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
        var areas: [ObjectIdentifier: [UInt8]] = [:]
        var offset = 0
        var out: [StoredRecord] = []
        out.reserveCapacity(entries.count)
        for e in entries {
            switch e.body {
            case .open(let r):
                out.append(r)
            case .sealed(let s):
                let id = ObjectIdentifier(s.source)
                if areas[id] == nil { areas[id] = try s.source.area() }
                let range = offset..<(offset + s.plaintextCount)
                let ok = try areas[id]!.withUnsafeBytes { area in
                    try buffer.withUnsafeMutableBytes { all in
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
        guard entries.count <= RecordCodec.maxRecords else {
            throw VaultError("vault.full", "the vault would hold \(entries.count) records; at most \(RecordCodec.maxRecords) are allowed, so nothing was changed",
                             hint: "remove apps you no longer use (`vault remove`)", exit: .dataError)
        }
        var seen = Set<String>()
        seen.reserveCapacity(entries.count)
        for e in entries {
            guard !e.kind.isEmpty, e.kind.utf8.count <= 255, e.name.utf8.count <= RecordCodec.maxNameBytes,
                  seen.insert(e.kind + "\u{0}" + e.name).inserted else {
                throw VaultError("vault.record", "internal error: a record of kind \(e.kind.prefix(32)) cannot be encoded; nothing was changed", exit: .software)
            }
            if case .open(let r) = e.body {
                guard r.secrets.count <= 255, r.secrets.keys.allSatisfy({ $0.utf8.count <= 255 }), r.metadata.count <= Int(UInt32.max) else {
                    throw VaultError("vault.record", "internal error: a record of kind \(e.kind.prefix(32)) cannot be encoded; nothing was changed", exit: .software)
                }
            }
        }
    }
}
