import FoundationEssentials
import VaultCrypto

/// An Entra ID app stored in the vault. Everything here is public metadata; the secrets live in `secrets`.
public struct AppMetadata: Codable, Equatable, Sendable {
    public var name: String
    public var tenant: String
    public var clientID: String
    public var cloud: String
    public var authority: String?
    /// Graph root override (the emulator's, say); nil means the cloud's Graph.
    public var graphRoot: String?
    public var secretHint: String
    public var added: Date
    public var rotated: Date?
    /// keyId of the current secret at Entra ID, once known (set by a rotation).
    public var secretKeyID: String?
    public var secretExpires: Date?
    public var previousKeyID: String?
    /// The tenant id (`tid`) of the first token the app received: the cache realm from then on, so an app stored
    /// with a domain tenant never matches a token issued for another tenant.
    public var tenantID: String?
    /// The scope tokens are asked for by default (`add-app --scope`); nil: the Graph host's `/.default`.
    public var scope: String?
    /// A certificate credential (its private key is the record's secret "certificate_key"): the certificate, base64
    /// DER, and the facts shown without parsing it.
    public var certificate: String?
    public var certificateChain: [String]?
    public var certificateSHA1: String?
    public var certificateSHA256: String?
    public var certificateExpires: Date?
    public var certificateSubject: String?
    /// keyId of the certificate at Entra ID, once known (set by a certificate rotation).
    public var certificateKeyID: String?
    /// "certificate" or "secret" when the app holds both (`--use`); nil: the certificate if there is one.
    public var credentialUse: String?
    /// "PS256" (nil) or "RS256" for client assertions.
    public var assertionAlgorithm: String?
    /// Send the certificate chain in `x5c` (subject-name/issuer authentication).
    public var sendX5C: Bool?

    public init(name: String, tenant: String, clientID: String, cloud: String, authority: String?, secretHint: String,
                added: Date) {
        self.name = name
        self.tenant = tenant
        self.clientID = clientID
        self.cloud = cloud
        self.authority = authority
        self.secretHint = secretHint
        self.added = added
    }

    enum CodingKeys: String, CodingKey {
        case name, tenant, cloud, authority, added, rotated
        case clientID = "client_id", graphRoot = "graph_root", secretHint = "secret_hint", secretKeyID = "secret_key_id"
        case secretExpires = "secret_expires", previousKeyID = "previous_key_id", tenantID = "tenant_id", scope
        case certificate, certificateChain = "certificate_chain", certificateSHA1 = "certificate_sha1"
        case certificateSHA256 = "certificate_sha256", certificateExpires = "certificate_expires"
        case certificateSubject = "certificate_subject", certificateKeyID = "certificate_key_id"
        case credentialUse = "credential_use", assertionAlgorithm = "assertion_algorithm", sendX5C = "send_x5c"
    }

    /// Which credential tokens are fetched with: `--use`, else the certificate when there is one.
    public var usesCertificate: Bool { certificate != nil && credentialUse != "secret" }
}

/// An app record: its metadata and whichever credentials it holds (a client secret, a certificate key, or both).
public struct StoredApp: Sendable {
    public var metadata: AppMetadata
    /// The client secret ("current"), and the one it replaced while a rotation keeps it ("previous").
    public var secret: SecretBytes?
    public var previous: SecretBytes?
    /// The certificate's RSA private key, DER ("certificate_key").
    public var certificateKey: SecretBytes?

    public init(metadata: AppMetadata, secret: SecretBytes?, previous: SecretBytes? = nil, certificateKey: SecretBytes? = nil) {
        self.metadata = metadata
        self.secret = secret
        self.previous = previous
        self.certificateKey = certificateKey
    }

    public static let secretName = "current", previousName = "previous", certificateKeyName = "certificate_key"
}

/// One record: JSON metadata and named secrets. Kinds: "app" (secrets "current" and optionally "previous" for a client
/// secret, "certificate_key" for a certificate; at least one credential) and "rotation" (a rotation journal entry).
public struct StoredRecord: Sendable {
    public var kind: String
    public var name: String
    public var metadata: [UInt8]
    public var secrets: [String: SecretBytes]

    public init(kind: String, name: String, metadata: [UInt8], secrets: [String: SecretBytes]) {
        self.kind = kind
        self.name = name
        self.metadata = metadata
        self.secrets = secrets
    }
}

/// The decrypted body of the secrets file.
public struct VaultContents: Sendable {
    public var records: [StoredRecord] = []
    public init(records: [StoredRecord] = []) { self.records = records }

    public static let magic: [UInt8] = Array("REC1".utf8)
    static let maxRecords = 10_000

    // MARK: apps

    public var apps: [StoredApp] { records.compactMap(Self.storedApp) }

    public func app(named name: String) -> StoredApp? {
        records.first(where: { $0.kind == "app" && $0.name == name }).flatMap(Self.storedApp)
    }

    static func storedApp(_ r: StoredRecord) -> StoredApp? {
        let certificateKey = r.secrets[StoredApp.certificateKeyName]
        guard r.kind == "app", r.secrets[StoredApp.secretName] != nil || certificateKey != nil,
              let meta = try? Self.decoder.decode(AppMetadata.self, from: Data(r.metadata)) else { return nil }
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
        let certificateKey = app(named: metadata.name)?.certificateKey
        try putApp(StoredApp(metadata: metadata, secret: secret, previous: previous, certificateKey: certificateKey))
    }

    public mutating func put(_ record: StoredRecord) {
        if let i = records.firstIndex(where: { $0.kind == record.kind && $0.name == record.name }) {
            records[i] = record
        } else {
            records.append(record)
        }
    }

    @discardableResult
    public mutating func remove(kind: String, name: String) -> Bool {
        let before = records.count
        records.removeAll { $0.kind == kind && $0.name == name }
        return records.count != before
    }

    public func record(kind: String, name: String) -> StoredRecord? {
        records.first { $0.kind == kind && $0.name == name }
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

    // MARK: body encoding (docs/FORMAT.md §4)

    /// Refuses contents the reader would refuse (record count, one-byte length fields), so a write never produces a
    /// file vault cannot open again.
    public func checkEncodable() throws {
        guard records.count <= Self.maxRecords else {
            throw VaultError("vault.full", "the vault would hold \(records.count) records; at most \(Self.maxRecords) are allowed, so nothing was changed",
                             hint: "remove apps you no longer use (`vault remove`)", exit: .dataError)
        }
        for r in records {
            guard r.kind.utf8.count <= 255, r.secrets.count <= 255, r.secrets.keys.allSatisfy({ $0.utf8.count <= 255 }),
                  r.name.utf8.count <= Int(UInt32.max), r.metadata.count <= Int(UInt32.max) else {
                throw VaultError("vault.record", "internal error: a record of kind \(r.kind.prefix(32)) cannot be encoded; nothing was changed", exit: .software)
            }
        }
    }

    /// Serialises the records into secret memory.
    public func encodeBody() -> SecretBytes {
        var size = 8
        for r in records {
            size += 4 + 1 + r.kind.utf8.count + 4 + r.name.utf8.count + 4 + r.metadata.count + 1
            for (k, v) in r.secrets { size += 1 + k.utf8.count + 4 + v.count }
        }
        let out = SecretBytes(count: size)
        out.withUnsafeMutableBytes { buf in
            var o = 0
            func put(_ bytes: some Collection<UInt8>) {
                for b in bytes { buf[o] = b; o += 1 }
            }
            func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { put($0) } }
            put(Self.magic)
            u32(records.count)
            for r in records {
                u32(0) // reserved flags
                put([UInt8(r.kind.utf8.count)]); put(r.kind.utf8)
                u32(r.name.utf8.count); put(r.name.utf8)
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
            precondition(o == size)
        }
        return out
    }

    /// Parses a decrypted body; secret values are copied straight from secret memory into new `SecretBytes`.
    /// Secret values are views into `body` (no copy, no allocation per secret): the decrypted body stays in one
    /// locked buffer for as long as any record of it is alive.
    public static func decodeBody(_ body: SecretBytes) throws -> VaultContents {
        try body.withUnsafeBytes { buf in
            var r = SecretReader(buffer: buf)
            guard Array(try r.take(4)) == magic else { throw FormatError.damagedRecords }
            let count = Int(try r.u32())
            guard count <= maxRecords else { throw FormatError.damagedRecords }
            var records: [StoredRecord] = []
            for _ in 0..<count {
                _ = try r.u32()
                // Text fields must be valid UTF-8 and secret names unique: a lenient decode (U+FFFD, last one wins)
                // would make a body that re-encodes differently, or not at all (a kind longer than 255 bytes).
                func text(_ bytes: UnsafeRawBufferPointer) throws -> String {
                    guard let s = String(validating: bytes, as: UTF8.self) else { throw FormatError.damagedRecords }
                    return s
                }
                let kind = try text(try r.take(Int(try r.u8())))
                let name = try text(try r.take(Int(try r.u32())))
                let meta = Array(try r.take(Int(try r.u32())))
                let n = Int(try r.u8())
                var secrets: [String: SecretBytes] = [:]
                for _ in 0..<n {
                    let key = try text(try r.take(Int(try r.u8())))
                    guard secrets[key] == nil else { throw FormatError.damagedRecords }
                    let length = Int(try r.u32())
                    let start = r.offset
                    _ = try r.take(length)
                    secrets[key] = body.view(start..<(start + length))
                }
                records.append(StoredRecord(kind: kind, name: name, metadata: meta, secrets: secrets))
            }
            guard r.atEnd else { throw FormatError.damagedRecords }
            return VaultContents(records: records)
        }
    }
}
