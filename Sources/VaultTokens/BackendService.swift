import FleetBackend
import FoundationEssentials
import Synchronization
import VaultCrypto
import VaultErrors
import VaultHTTP
import VaultStore
import VaultFormat
import VaultRecords

/// A fleet backend as the local vault keeps it (record kind "backend", docs/FORMAT.md §4.3): where the secret engine
/// is and how this host logs in. The metadata is public; the AppRole secret id or the token is the record's secret.
public struct BackendRecord: Codable, Equatable, Sendable {
    public var name: String
    public var addresses: [String]
    public var mount: String
    public var prefix: String
    /// PEM file of CAs for the engine's TLS (nil: the system's).
    public var caBundle: String?
    /// "approle" or "token".
    public var auth: String
    public var roleID: String?
    public var added: Date

    enum CodingKeys: String, CodingKey {
        case name, addresses, mount, prefix, auth, added
        case caBundle = "ca_bundle", roleID = "role_id"
    }

    public init(name: String, addresses: [String], mount: String, prefix: String, caBundle: String?, auth: String, roleID: String?, added: Date) {
        self.name = name; self.addresses = addresses; self.mount = mount; self.prefix = prefix
        self.caBundle = caBundle; self.auth = auth; self.roleID = roleID; self.added = added
    }

    /// Vault 0.1.0 wrote `added` counted from 2001-01-01 (Foundation's reference date); FORMAT.md says Unix seconds.
    /// No backend was added before 2023, so a value below 1,700,000,000 is read as the old count.
    static let referenceDateOffset: Double = 978_307_200

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        addresses = try c.decode([String].self, forKey: .addresses)
        mount = try c.decode(String.self, forKey: .mount)
        prefix = try c.decode(String.self, forKey: .prefix)
        caBundle = try c.decodeIfPresent(String.self, forKey: .caBundle)
        auth = try c.decode(String.self, forKey: .auth)
        roleID = try c.decodeIfPresent(String.self, forKey: .roleID)
        let seconds = try c.decode(Double.self, forKey: .added)
        guard seconds.isFinite, seconds >= 0, seconds <= 253_402_300_799 else {
            throw DecodingError.dataCorruptedError(forKey: .added, in: c, debugDescription: "added is not a time")
        }
        added = Date(timeIntervalSince1970: seconds < 1_700_000_000 ? seconds + Self.referenceDateOffset : seconds)
    }

    public static let kind = "backend"
    public static let secretName = "login"

    public var config: BackendConfig { BackendConfig(addresses: addresses, mount: mount, prefix: prefix) }
}

/// Use case: the backends this host knows (`vault backend add|list|show|remove|check`).
public struct BackendService: Sendable {
    public let vault: Vault
    public let unlock: Credential
    let now: @Sendable () -> Date

    public init(vault: Vault, unlock: Credential, now: @escaping @Sendable () -> Date = { Date() }) {
        self.vault = vault
        self.unlock = unlock
        self.now = now
    }

    /// Checks an address list: `https://host[:port]` (plain `http` only on loopback), no path, query or user-info.
    public static func validate(addresses: [String]) throws -> [String] {
        guard !addresses.isEmpty, addresses.count <= 16 else {
            throw VaultError("backend.address", "give 1 to 16 addresses (the active node and its standbys)")
        }
        var out: [String] = []
        for raw in addresses {
            var a = raw
            while a.hasSuffix("/") { a.removeLast() }
            let url: EndpointURL
            do { url = try EndpointURL.parse(a) } catch {
                throw VaultError("backend.address", "backend address \(raw) is not https://HOST[:PORT] (http only on loopback)")
            }
            guard url.path.isEmpty || url.path == "/" else {
                throw VaultError("backend.address", "backend address \(raw) has a path; give only scheme, host and port")
            }
            out.append(url.origin)
        }
        guard Set(out).count == out.count else { throw VaultError("backend.address", "an address is given twice") }
        return out
    }

    public static func validate(mount: String, prefix: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./")
        guard !mount.isEmpty, mount.count <= 128, mount.allSatisfy(allowed.contains), !mount.hasPrefix("/"), !mount.contains("..") else {
            throw VaultError("backend.mount", "the mount \(mount) is not a KV mount path (letters, digits, - _ . /)")
        }
        guard prefix.count <= 256, prefix.allSatisfy(allowed.contains), !prefix.hasPrefix("/"), !prefix.contains("..") else {
            throw VaultError("backend.prefix", "the prefix \(prefix) is not a path prefix (letters, digits, - _ . /)")
        }
    }

    /// Stores a backend. Refuses a name already used unless `replace`.
    public func add(_ record: BackendRecord, login: SecretBytes, replace: Bool) throws {
        try vault.update(unlock) { v in
            if !replace, try v.contents.record(kind: BackendRecord.kind, name: record.name) != nil {
                throw VaultError("backend.exists", "a backend named '\(record.name)' is already stored")
            }
            let meta = try VaultContents.encoder.encode(record)
            v.contents.put(StoredRecord(kind: BackendRecord.kind, name: record.name, metadata: Array(meta), secrets: [BackendRecord.secretName: login]))
        }
    }

    public func list() throws -> [BackendRecord] {
        let v = try vault.open(unlock)
        return try v.contents.names(kind: BackendRecord.kind).sorted().compactMap { try record(in: v, $0)?.0 }
    }

    public func get(_ name: String) throws -> (BackendRecord, SecretBytes) {
        guard let found = try record(in: try vault.open(unlock), name) else {
            throw VaultError("backend.unknown", "no backend named '\(name)'")
        }
        return found
    }

    package func record(in v: UnlockedVault, _ name: String) throws -> (BackendRecord, SecretBytes)? {
        guard let r = try v.contents.record(kind: BackendRecord.kind, name: name) else { return nil }
        guard let meta = try? JSONDecoder().decode(BackendRecord.self, from: Data(r.metadata)), let login = r.secrets[BackendRecord.secretName] else {
            throw VaultError("backend.damaged", "the stored backend '\(name)' cannot be read")
        }
        return (meta, login)
    }

    public func remove(_ name: String) throws {
        try vault.update(unlock) { v in
            guard v.contents.remove(kind: BackendRecord.kind, name: name) else {
                throw VaultError("backend.unknown", "no backend named '\(name)'")
            }
        }
    }

    /// The clients this process made, by backend: one login per backend and process, which a long-lived process
    /// (`vault serve`, `vault exec`) keeps and renews instead of logging in again at each cache miss.
    static let clients = Mutex<[String: (record: BackendRecord, login: SecretBytes, client: KVClient)]>([:])

    /// The client for a stored backend (the one this process already has for the same record and login).
    public static func client(_ record: BackendRecord, login: SecretBytes, transport: any HTTPTransport) -> KVClient {
        clients.withLock { cache in
            if let known = cache[record.name], known.record == record, known.login.constantTimeEquals(login) { return known.client }
            let auth: BackendAuth = record.auth == "token" ? .token(login) : .appRole(roleID: record.roleID ?? "", secretID: login)
            let made = KVClient(config: record.config, transport: transport, auth: auth)
            cache[record.name] = (record, login, made)
            return made
        }
    }
}

extension BackendService {
    /// The transport to a backend: its own CA bundle (not Entra's), checked like any other CA bundle.
    public static func transport(for record: BackendRecord) throws -> any HTTPTransport {
        var options = HTTPOptions(caBundle: record.caBundle)
        if let ca = record.caBundle {
            let pem = try FileSystem.readVerified(ca, rule: .init(what: "CA bundle", privateRead: false), limit: 16 << 20)
            options.caBundlePEM = pem.withUnsafeBytes { Array($0) }
        }
        options.userAgent = "vault"
        options.totalTimeout = 30
        let settings = options
        let make = transportMaker.withLock { $0 }
        return LazyTransport { try make(settings) }
    }

    /// How this process makes its transports to backends: the command line sets one that logs (`-v`, redacted).
    public static let transportMaker = Mutex<@Sendable (HTTPOptions) throws -> any HTTPTransport>({ try CurlTransport(options: $0, logger: nil) })
}

/// Apps whose secret is kept in a fleet backend, at `TENANT/NAME` under the backend's prefix: KV data `client_id`,
/// `tenant`, `cloud`, `authority`, `graph_root`, `scope`, `secret_hint` and `secret`; the same facts but the secret in
/// `custom_metadata`, so a metadata-only policy can list them.
public enum BackendApps {
    public static func path(tenant: String, app: String) -> String { "\(tenant.lowercased())/\(app)" }

    /// Writes a new app, create-only (`cas` 0): refuses one that is already there. Returns the KV version.
    public static func create(_ kv: KVClient, path: String, metadata m: AppMetadata, secret: SecretBytes) throws -> Int {
        var facts: [(String, String)] = [("client_id", m.clientID), ("tenant", m.tenant), ("cloud", m.cloud), ("secret_hint", m.secretHint)]
        if let a = m.authority { facts.append(("authority", a)) }
        if let g = m.graphRoot { facts.append(("graph_root", g)) }
        if let s = m.scope { facts.append(("scope", s)) }
        let secretText = secret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        guard let version = try kv.write(path, data: facts + [("secret", secretText)], cas: 0) else {
            throw VaultError("backend.app_exists", "the backend already holds an app at \(path)", context: ["app": m.name, "tenant": m.tenant])
        }
        try kv.writeMetadata(path, custom: facts)
        return version
    }

    /// The app's facts as the backend holds them (for `--from-backend`), and its KV version.
    public static func read(_ kv: KVClient, path: String) throws -> (facts: [String: String], version: Int) {
        guard let found = try kv.read(path) else {
            throw VaultError("backend.app_missing", "the backend holds no app at \(path)")
        }
        return (found.data, found.version)
    }

    /// The app's client secret, read into secret memory.
    public static func readSecret(_ kv: KVClient, path: String, app: String) throws -> SecretBytes {
        guard let found = try kv.read(path), let text = found.data["secret"], !text.isEmpty else {
            throw VaultError("backend.app_missing", "the backend holds no secret for '\(app)' at \(path)")
        }
        var raw = Array(text.utf8)
        return SecretBytes(consuming: &raw)
    }
}
