import FoundationEssentials
import Synchronization
import VaultCrypto
import VaultErrors
import VaultHTTP
#if canImport(Glibc)
import Glibc
import VaultJSON
#endif

/// How a host logs in to the secret engine.
public enum BackendAuth: Sendable {
    /// AppRole: the role id (not secret) and the secret id (secret).
    case appRole(roleID: String, secretID: SecretBytes)
    /// A token given directly (`--token-file`).
    case token(SecretBytes)
}

/// Where the engine is: one or more addresses (the active node and standbys), the KV v2 mount and the path prefix.
public struct BackendConfig: Sendable {
    public var addresses: [String]
    public var mount: String
    public var prefix: String

    public init(addresses: [String], mount: String = "secret", prefix: String = "entra/") {
        self.addresses = addresses
        self.mount = mount
        self.prefix = prefix
    }
}

/// One KV v2 version as read.
public struct KVSecret: Sendable {
    public let version: Int
    /// The `data` object's string values (secret ones included: callers move them into `SecretBytes` at once).
    public let data: [String: String]
    /// When the engine wrote this version (its `created_time`, by the engine's clock).
    public var created: Date? = nil
    /// The engine's clock when it answered (the response's `Date`), and this host's clock when the answer arrived:
    /// together they turn the engine's times into this host's, whatever the skew between the two clocks.
    public var engineNow: Date? = nil
    public var readAt = Date()

    public init(version: Int, data: [String: String], created: Date? = nil, engineNow: Date? = nil, readAt: Date = Date()) {
        self.version = version
        self.data = data
        self.created = created
        self.engineNow = engineNow
        self.readAt = readAt
    }

    /// An engine time on this host's clock; nil when the answer did not carry the engine's clock.
    public func local(_ engineTime: Date) -> Date? {
        engineNow.map { readAt.addingTimeInterval(engineTime.timeIntervalSince($0)) }
    }
}

/// A client of the OpenBao / HashiCorp Vault HTTP API (KV version 2 and AppRole login), over `VaultHTTP`:
/// - it tries the configured addresses in order; a standby's 307 is followed only when its `Location` is one of them;
/// - 503 (sealed, or a standby that cannot forward), connection failures and 429 move on to the next address;
/// - 403 names the policy path that would allow the request; the login token is renewed or replaced when it expires.
/// The `X-Vault-Token` header and AppRole secret ids are redacted in logs like every other credential.
public final class KVClient: Sendable {
    let config: BackendConfig
    let transport: any HTTPTransport
    let auth: BackendAuth
    /// The login: its token, when its lease ends and how long it was (AppRole logins only), whether it renews. Locked:
    /// a long-lived process (`vault serve`) shares one client between its fetch threads; network calls happen outside
    /// the lock (two threads may then both log in, and the later token is kept).
    struct Login {
        var token: SecretBytes?
        var expires: Date?
        var lease: Double = 0
        var renewable = false
    }
    private let login = Mutex(Login())
    /// The newest `X-Vault-Index` (the storage index of the cluster) this client saw, sent back with every request:
    /// OpenBao's standbys serve reads (and judge check-and-set) from their own replica, and one that has not applied
    /// this index yet refuses (429; Vault: 412) instead of answering from stale data. So this client reads its own
    /// writes, and its check-and-set writes are judged against at least what it last saw. Opaque; absent on a dev
    /// server.
    private let storageIndex = Mutex<String?>(nil)

    public init(config: BackendConfig, transport: any HTTPTransport, auth: BackendAuth, electionWaits: [Double] = [1, 2]) {
        self.electionWaits = electionWaits
        self.config = config
        self.transport = transport
        self.auth = auth
    }

    func path(_ kind: String, _ name: String) -> String { "/v1/\(config.mount)/\(kind)/\(config.prefix)\(name)" }

    /// Sends to the first address that answers as the active node. An AppRole login whose token the engine refuses
    /// (it expired, or was revoked, mid-command) logs in again once and repeats the request. A 403 is first checked
    /// with `lookup-self`: when the token is still good, a policy said no, and logging in again would only spend one
    /// of the secret id's uses. This stops a policy denial from burning them; a hostile node can still answer 403 to
    /// `lookup-self` too, and then each request logs in again once (as before).
    func send(_ method: String, _ path: String, body: [UInt8]?, authenticated: Bool = true) throws -> HTTPResponse {
        let response = try sendOnce(method, path, body: body, authenticated: authenticated)
        guard response.status == 403, authenticated, case .appRole = auth, let token = login.withLock({ $0.token }) else { return response }
        if path != "/v1/auth/token/lookup-self",
           let probe = try? sendOnce("GET", "/v1/auth/token/lookup-self", body: nil, authenticated: true), probe.status == 200 {
            return response
        }
        login.withLock { if $0.token === token { $0 = Login() } }
        return try sendOnce(method, path, body: body, authenticated: authenticated)
    }

    /// Pauses between rounds over every address when none answered as the active node (503, or no connection): a
    /// cluster electing a new leader after its active node died answers again within seconds. A rate limit (429) is
    /// waited out the same way, or for its `Retry-After` when that is longer but at most 10 s.
    public let electionWaits: [Double]

    func sendOnce(_ method: String, _ path: String, body: [UInt8]?, authenticated: Bool) throws -> HTTPResponse {
        var waits = electionWaits[...]
        while true {
            var retryAfter: Double?
            do {
                return try sendRound(method, path, body: body, authenticated: authenticated, retryAfter: &retryAfter)
            } catch let e as VaultError where ["backend.sealed", "backend.throttled"].contains(e.code) || TransportFailure.isRetryable(e) {
                guard !waits.isEmpty else { throw e }
                let wait = waits.removeFirst()
                if e.code == "backend.throttled", let asked = retryAfter, asked > 10 { throw e }
                ThreadSleeper().sleep(seconds: max(wait, retryAfter ?? 0))
            }
        }
    }

    func sendRound(_ method: String, _ path: String, body: [UInt8]?, authenticated: Bool, retryAfter: inout Double?) throws -> HTTPResponse {
        var lastError: VaultError?
        for base in config.addresses {
            var url = base + path
            var redirects = 0
            var lagWaits = [0.05, 0.1, 0.2, 0.4, 0.8][...]
            while true {
                var headers: [(String, String)] = [("Accept", "application/json")]
                if body != nil { headers.append(("Content-Type", "application/json")) }
                let sentIndex = storageIndex.withLock { $0 }
                if let sentIndex { headers.append(("X-Vault-Index", sentIndex)) }
                if authenticated {
                    let t = try loginToken()
                    headers.append(("X-Vault-Token", t.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }))
                }
                var bodyBytes = body ?? []
                let request = HTTPRequest(method: method, url: url, headers: headers,
                                          body: body == nil ? nil : SecretBytes(consuming: &bodyBytes))
                let response: HTTPResponse
                do { response = try transport.send(request) } catch let e as VaultError {
                    lastError = e
                    break
                }
                if let index = response.header("X-Vault-Index"), !index.isEmpty, index.count <= 1024 {
                    storageIndex.withLock { $0 = index }
                }
                switch response.status {
                case 412 where !lagWaits.isEmpty, 429 where sentIndex != nil && !lagWaits.isEmpty:
                    // A standby serving reads has not yet applied what this client saw last (OpenBao answers 429,
                    // HashiCorp Vault 412): wait a moment for it. A rate limit's 429 is waited out here too.
                    ThreadSleeper().sleep(seconds: lagWaits.removeFirst())
                    continue
                case 412:
                    lastError = VaultError("backend.lagging", "\(base) has not caught up with the cluster's latest writes (412)")
                case 307 where redirects == 0, 308 where redirects == 0:
                    // A standby points at the active node: follow only to an address we were configured with.
                    guard let location = response.header("Location"),
                          let target = config.addresses.first(where: { location.hasPrefix($0 + "/") }) else {
                        lastError = VaultError("backend.redirect", "\(base) redirected to an address that is not configured (\(response.header("Location") ?? "none")); not followed")
                        break
                    }
                    url = target + location.dropFirst(target.count)
                    redirects += 1
                    continue
                case 307, 308:
                    lastError = VaultError("backend.redirect", "\(base) redirected more than once; not followed")
                case 503:
                    lastError = VaultError("backend.sealed", "\(base) is sealed or has no active node (503)")
                case 429:
                    retryAfter = max(retryAfter ?? 0, RetryAfter.seconds(response.header("Retry-After")) ?? 0)
                    lastError = VaultError("backend.throttled", "\(base) refused the request: rate limit (429)")
                default:
                    return response
                }
                break
            }
        }
        throw lastError ?? VaultError("backend.none", "no backend address configured")
    }

    /// The login token: the token given, or an AppRole login (kept for the client's life, renewed with
    /// `renew-self` once less than a third of its lease is left, and replaced by a new login when it cannot be).
    func loginToken() throws -> SecretBytes {
        let current = login.withLock { $0 }
        if let token = current.token {
            guard let expires = current.expires, expires.timeIntervalSinceNow < max(10, current.lease / 3) else { return token }
            if current.renewable, expires.timeIntervalSinceNow > 1, let renewed = try? renew(token) {
                login.withLock { if $0.token === token { $0.expires = Date().addingTimeInterval(renewed) } }
                return token
            }
            login.withLock { if $0.token === token { $0 = Login() } }
        }
        switch auth {
        case .token(let t):
            login.withLock { $0.token = t }
            return t
        case .appRole(let roleID, let secretID):
            var body = Array(#"{"role_id":"#.utf8) + JSONBytes.quoted(roleID) + Array(#","secret_id":"#.utf8)
            secretID.withUnsafeBytes { body += JSONBytes.quoted(String(decoding: $0, as: UTF8.self)) }
            body.append(UInt8(ascii: "}"))
            let response = try send("POST", "/v1/auth/approle/login", body: body, authenticated: false)
            body.withUnsafeMutableBytes { if let b = $0.baseAddress { memset(b, 0, $0.count) } }
            guard response.status == 200 else {
                // 400 is the engine saying no to these credentials ("invalid role or secret ID"): a secret id
                // destroyed (a revoked host), expired or used up, or a wrong role id. Not an outage to wait out.
                // Only the engine's own answer ({"errors":[…]}) counts: a 400 from a proxy in front of it is no verdict
                // on the credentials.
                if response.status == 400, let refused = Self.loginRefused(response) { throw refused }
                throw Self.failure(response, what: "AppRole login", path: "auth/approle/login")
            }
            struct Answer: Decodable { struct Auth: Decodable { var client_token: String; var lease_duration: Int?; var renewable: Bool? }; var auth: Auth }
            guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(response.body)) else {
                throw VaultError("backend.response", "the AppRole login answer has no client token")
            }
            var raw = Array(answer.auth.client_token.utf8)
            let t = SecretBytes(consuming: &raw)
            var fresh = Login(token: t)
            if let lease = answer.auth.lease_duration, lease > 0 {
                // Bounded like every number from the engine: a lease past a year is taken as a year.
                fresh.lease = Double(min(lease, 366 * 86_400))
                fresh.expires = Date().addingTimeInterval(fresh.lease)
                fresh.renewable = answer.auth.renewable ?? false
            }
            login.withLock { $0 = fresh }
            return t
        }
    }

    /// `auth/token/renew-self` with `t`: the new lease in seconds.
    func renew(_ t: SecretBytes) throws -> Double {
        var headers: [(String, String)] = [("Accept", "application/json"), ("Content-Type", "application/json")]
        headers.append(("X-Vault-Token", t.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }))
        var body = Array("{}".utf8)
        for base in config.addresses {
            guard let response = try? transport.send(HTTPRequest(method: "POST", url: base + "/v1/auth/token/renew-self", headers: headers,
                                                                 body: SecretBytes(consuming: &body))) else { body = Array("{}".utf8); continue }
            body = Array("{}".utf8)
            guard response.status == 200 else { continue }
            struct Renewed: Decodable { struct Auth: Decodable { var lease_duration: Int }; var auth: Auth }
            guard let r = try? JSONDecoder().decode(Renewed.self, from: Data(response.body)), r.auth.lease_duration > 0 else { break }
            return Double(min(r.auth.lease_duration, 366 * 86_400))
        }
        throw VaultError("backend.renew", "the backend login token could not be renewed")
    }

    /// The current version of `name`, or nil when it does not exist.
    public func read(_ name: String) throws -> KVSecret? {
        let response = try send("GET", path("data", name), body: nil)
        if response.status == 404 { return nil }
        guard response.status == 200 else { throw Self.failure(response, what: "reading \(name)", path: "\(config.mount)/data/\(config.prefix)\(name)") }
        return try Self.decodeSecret(response.body, name: name, date: response.header("Date"), readAt: Date())
    }

    /// A KV v2 read answer (`data.data` of strings, `data.metadata.version` and `created_time`), the engine's `Date`.
    public static func decodeSecret(_ body: [UInt8], name: String, date: String?, readAt: Date) throws -> KVSecret {
        struct Read: Decodable {
            struct Inner: Decodable {
                struct Meta: Decodable { var version: Int; var created_time: String? }
                var data: [String: String]?
                var metadata: Meta
            }
            var data: Inner
        }
        guard let r = try? JSONDecoder().decode(Read.self, from: Data(body)), r.data.metadata.version >= 0 else {
            throw VaultError("backend.response", "the backend's answer for \(name) is not a KV v2 secret of strings")
        }
        return KVSecret(version: r.data.metadata.version, data: r.data.data ?? [:], created: BackendTime.rfc3339(r.data.metadata.created_time),
                        engineNow: BackendTime.httpDate(date), readAt: readAt)
    }

    /// Writes `data` with check-and-set: `cas` 0 creates only if absent; N replaces only version N. Returns the new
    /// version, or nil when the check failed (someone else wrote first).
    public func write(_ name: String, data: [(String, String)], cas: Int) throws -> Int? {
        var body = Array(#"{"options":{"cas":"#.utf8) + Array(String(cas).utf8) + Array(#"},"data":{"#.utf8)
        for (i, (k, v)) in data.enumerated() {
            if i > 0 { body.append(UInt8(ascii: ",")) }
            body += JSONBytes.quoted(k) + [UInt8(ascii: ":")] + JSONBytes.quoted(v)
        }
        body += Array("}}".utf8)
        defer { body.withUnsafeMutableBytes { if let b = $0.baseAddress { memset(b, 0, $0.count) } } }
        let response = try send("POST", path("data", name), body: body)
        if response.status == 400, response.bodyText.contains("check-and-set") { return nil }
        guard response.status == 200 else { throw Self.failure(response, what: "writing \(name)", path: "\(config.mount)/data/\(config.prefix)\(name)") }
        struct Written: Decodable { struct Inner: Decodable { var version: Int }; var data: Inner }
        guard let w = try? JSONDecoder().decode(Written.self, from: Data(response.body)) else {
            throw VaultError("backend.response", "the backend's answer to writing \(name) has no version")
        }
        return w.data.version
    }

    /// Sets the non-secret `custom_metadata` of `name` (readable under the metadata path's own policy).
    public func writeMetadata(_ name: String, custom: [(String, String)]) throws {
        var body = Array(#"{"custom_metadata":{"#.utf8)
        for (i, (k, v)) in custom.enumerated() {
            if i > 0 { body.append(UInt8(ascii: ",")) }
            body += JSONBytes.quoted(k) + [UInt8(ascii: ":")] + JSONBytes.quoted(v)
        }
        body += Array("}}".utf8)
        let response = try send("POST", path("metadata", name), body: body)
        guard response.status == 204 || response.status == 200 else {
            throw Self.failure(response, what: "writing the metadata of \(name)", path: "\(config.mount)/metadata/\(config.prefix)\(name)")
        }
    }

    /// Deletes every version and the metadata of `name`.
    public func destroy(_ name: String) throws {
        let response = try send("DELETE", path("metadata", name), body: nil)
        guard response.status == 204 || response.status == 200 || response.status == 404 else {
            throw Self.failure(response, what: "removing \(name)", path: "\(config.mount)/metadata/\(config.prefix)\(name)")
        }
    }

    /// What the login token is (`auth/token/lookup-self`), proving the login works.
    public struct TokenInfo: Sendable {
        public var policies: [String]
        /// Seconds left on the token's lease.
        public var ttl: Int
        /// The token's accessor (names the token for revocation and audit, and is not the token).
        public var accessor: String
    }

    public func check() throws -> TokenInfo {
        let response = try send("GET", "/v1/auth/token/lookup-self", body: nil)
        guard response.status == 200 else { throw Self.failure(response, what: "looking up its own token", path: "auth/token/lookup-self") }
        struct Lookup: Decodable { struct D: Decodable { var policies: [String]?; var ttl: Int?; var accessor: String? }; var data: D }
        guard let l = try? JSONDecoder().decode(Lookup.self, from: Data(response.body)) else {
            throw VaultError("backend.response", "the backend's token lookup answer cannot be read")
        }
        return TokenInfo(policies: l.data.policies ?? [], ttl: l.data.ttl ?? 0, accessor: l.data.accessor ?? "")
    }

    /// Unwraps a response-wrapped secret id (`X-Vault-Wrap-TTL`): single use, so a wrapping token seen by anyone else
    /// first fails here, loudly.
    /// Before unwrapping, `sys/wrapping/lookup` (which does not use the token up) must say the token was made by
    /// AppRole's `secret-id` endpoint: a token substituted on the way (wrapping some other secret) is refused unopened.
    public static func unwrapSecretID(_ wrapping: SecretBytes, addresses: [String], transport: any HTTPTransport) throws -> SecretBytes {
        let client = KVClient(config: BackendConfig(addresses: addresses), transport: transport, auth: .token(wrapping))
        guard wrapping.count > 0, wrapping.count <= 512, wrapping.isPrintableASCII,
              wrapping.withUnsafeBytes({ !$0.contains(UInt8(ascii: "\"")) && !$0.contains(UInt8(ascii: "\\")) }) else {
            throw VaultError("backend.unwrap", "the wrapping token is not a token (printable characters, at most 512)", context: ["case": "input"])
        }
        var lookupBody = Array(#"{"token":""#.utf8)
        wrapping.withUnsafeBytes { lookupBody.append(contentsOf: $0) }
        lookupBody += Array(#""}"#.utf8)
        defer { wipe(&lookupBody) }
        let lookup = try client.send("POST", "/v1/sys/wrapping/lookup", body: lookupBody)
        guard lookup.status == 200 else {
            throw VaultError("backend.unwrap", "the wrapping token was refused (expired, or already used: someone may have unwrapped it first)")
        }
        struct Lookup: Decodable { struct D: Decodable { var creation_path: String? }; var data: D }
        let path = (try? JSONDecoder().decode(Lookup.self, from: Data(lookup.body)))?.data.creation_path ?? ""
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "auth", parts[1] == "approle", parts[2] == "role", !parts[3].isEmpty, parts[4] == "secret-id" else {
            let shown = String(String.UnicodeScalarView(path.unicodeScalars.prefix(120).map { $0.value >= 0x20 && $0.value < 0x7f ? $0 : "?" }))
            throw VaultError("backend.unwrap", "the wrapping token was not made by an AppRole secret-id endpoint (its creation path is '\(shown)'): it was not unwrapped", context: ["case": "substituted"])
        }
        let response = try client.send("POST", "/v1/sys/wrapping/unwrap", body: Array("{}".utf8))
        guard response.status == 200 else {
            throw VaultError("backend.unwrap", "the wrapping token was refused (expired, or already used: someone may have unwrapped it first)")
        }
        struct Unwrapped: Decodable { struct D: Decodable { var secret_id: String }; var data: D }
        guard let u = try? JSONDecoder().decode(Unwrapped.self, from: Data(response.body)) else {
            throw VaultError("backend.unwrap", "the unwrapped answer holds no secret_id", context: ["case": "answer"])
        }
        var raw = Array(u.data.secret_id.utf8)
        return SecretBytes(consuming: &raw)
    }

    /// An AppRole login the engine refused (HTTP 400): the credentials, not the engine, are the problem.
    /// Nil when the answer is not the engine's error document.
    static func loginRefused(_ response: HTTPResponse) -> VaultError? {
        struct Errors: Decodable { var errors: [String] }
        guard let errors = (try? JSONDecoder().decode(Errors.self, from: Data(response.body)))?.errors, !errors.isEmpty else { return nil }
        let detail = errors.joined(separator: "; ").prefix(300)
        return VaultError("backend.login_refused", "the backend refused this host's AppRole login: \(detail) (HTTP \(response.status))")
    }

    static func failure(_ response: HTTPResponse, what: String, path: String) -> VaultError {
        struct Errors: Decodable { var errors: [String] }
        let detail = (try? JSONDecoder().decode(Errors.self, from: Data(response.body)))?.errors.joined(separator: "; ") ?? "HTTP \(response.status)"
        if response.status == 403 {
            return VaultError("backend.forbidden", "the backend refused \(what): \(detail.isEmpty ? "permission denied" : detail)", context: ["path": path])
        }
        return VaultError("backend.error", "the backend failed \(what): \(detail.isEmpty ? "HTTP \(response.status)" : detail) (HTTP \(response.status))")
    }
}

/// JSON string literals as bytes (vault's one escaping rule).
enum JSONBytes {
    static func quoted(_ s: String) -> [UInt8] { JSONWriter.quoted(s) }
}
