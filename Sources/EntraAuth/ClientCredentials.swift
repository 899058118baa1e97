import FoundationEssentials
import VaultCrypto
import VaultErrors
import VaultHTTP
import VaultJSON

/// What the client-credentials exchange needs to know about an app.
public struct AppIdentity: Sendable {
    public var name: String
    public var clientID: String
    public var tenant: String
    /// Login host, e.g. `https://login.microsoftonline.com` or the emulator's `https://127.0.0.1:PORT`.
    public var authorityHost: String
    /// The client secret or the certificate the app proves itself with.
    public var credential: AppCredential
    /// The tenant id that cached tokens of this app must carry as their realm: the tenant when it is a GUID, else the
    /// `tid` recorded from the app's first token; nil while unknown (then no cached token matches).
    public var realm: String?

    public init(name: String, clientID: String, tenant: String, authorityHost: String, credential: AppCredential, realm: String? = nil) {
        self.name = name
        self.clientID = clientID
        self.tenant = tenant
        self.authorityHost = authorityHost
        self.credential = credential
        self.realm = realm ?? (Self.isGUID(tenant) ? tenant.lowercased() : nil)
    }

    public init(name: String, clientID: String, tenant: String, authorityHost: String, secret: SecretBytes, realm: String? = nil) {
        self.init(name: name, clientID: clientID, tenant: tenant, authorityHost: authorityHost, credential: .secret(secret), realm: realm)
    }

    static func isGUID(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        return parts.map(\.count) == [8, 4, 4, 4, 12] && parts.allSatisfy { $0.allSatisfy { $0.isASCII && $0.isHexDigit } }
    }

    public var tokenEndpoint: String { "\(authorityHost)/\(tenant)/oauth2/v2.0/token" }
    /// MSAL's `environment`: the authority host, lower-case, without port.
    public var environment: String { URLParts.host(authorityHost) }
}

/// Retry policy for the token endpoint: connection failures, 5xx and 429 are retried with bounded exponential
/// backoff that honours `Retry-After`; 4xx never.
public struct TokenRetryPolicy: Sendable {
    public var maxRetries = 3
    public var baseDelay = 0.5
    /// The longest single wait vault sits through (a longer `Retry-After` ends the attempt with a clear error).
    public var maxDelay = 30.0
    /// A federated credential Entra ID does not match yet (AADSTS70021: a new or changed FIC takes minutes to reach
    /// the token endpoint, and Microsoft recommends retrying): waited out with these pauses, each at most `maxDelay`
    /// (so `--max-wait 0` does not retry), at most 60 s in all for an interactive command.
    public var federationWaits: [Double] = [2, 4, 8, 16, 30]
    public init(maxDelay: Double = 30) { self.maxDelay = maxDelay }

    /// The pauses before each further try after AADSTS70021.
    var propagationWaits: [Double] { federationWaits.map { min($0, maxDelay) }.filter { $0 > 0 } }
}

/// The OAuth2 client-credentials exchange, with a client secret (`client_secret_post`) or a certificate
/// (`private_key_jwt`): the app's `AppCredential` writes its part of the form body.
public struct ClientCredentials: Sendable {
    public static let sku = "vault"
    public static let version = "0.1.0"
    let transport: any HTTPTransport
    let retry: TokenRetryPolicy
    let sleeper: any Sleeper
    let now: @Sendable () -> Date

    public init(transport: any HTTPTransport, retry: TokenRetryPolicy = TokenRetryPolicy(), sleeper: any Sleeper = ThreadSleeper(),
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.transport = transport
        self.retry = retry
        self.sleeper = sleeper
        self.now = now
    }

    /// Requests a token for `scope`; returns it ready for the cache.
    public func acquire(_ app: AppIdentity, scope: String) throws -> AccessToken {
        let body = try app.credential.formBody(clientID: app.clientID, scope: scope, tokenEndpoint: app.tokenEndpoint,
                                               appName: app.name, now: now())
        let requestID = UUID().uuidString.lowercased()
        var request = HTTPRequest(method: "POST", url: app.tokenEndpoint, headers: [
            ("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json"),
            ("client-request-id", requestID), ("x-client-sku", Self.sku), ("x-client-ver", Self.version),
            ("x-client-os", "linux"), ("x-ms-lib-capability", "retry-after, h429"),
        ], body: body)
        var attempt = 0
        var propagationWaits = retry.propagationWaits[...]
        while true {
            let started = now()
            // An assertion lives 10 minutes: one that waited through retries is made again rather than sent stale.
            if attempt > 0, case .certificate = app.credential {
                request.body = try app.credential.formBody(clientID: app.clientID, scope: scope, tokenEndpoint: app.tokenEndpoint,
                                                           appName: app.name, now: started)
            }
            let response: HTTPResponse
            do {
                response = try transport.send(request)
            } catch let e as VaultError where TransportFailure.isRetryable(e) && attempt < retry.maxRetries {
                sleeper.sleep(seconds: delay(attempt: attempt, retryAfter: nil))
                attempt += 1
                continue
            }
            if response.status == 200 {
                var token = try parse(response, app: app, scope: scope, requestedAt: started)
                token.correlationID = requestID
                return token
            }
            let retryable = response.status == 429 || response.status >= 500
            if retryable && attempt < retry.maxRetries {
                let wait = delay(attempt: attempt, retryAfter: RetryAfter.seconds(response.header("Retry-After"), now: now()))
                if wait <= retry.maxDelay {
                    sleeper.sleep(seconds: wait)
                    attempt += 1
                    continue
                }
            }
            if response.status == 429 {
                throw EntraErrors.throttled(response, app: app.name, attempts: attempt + 1, maxWait: retry.maxDelay, now: now())
            }
            var error = EntraErrors.map(response, app: app.name, clientID: app.clientID, tenant: app.tenant, scope: scope, url: app.tokenEndpoint,
                                        credential: app.credential.kind)
            if case .assertion(let external) = app.credential {
                // The claims Entra ID matched against (for the words; never the token).
                error.context["issuer"] = String(external.issuer.prefix(200))
                error.context["subject"] = String(external.subject.prefix(200))
            }
            // A federated credential added moments ago is not matched until it propagates: the same token is sent
            // again after a pause (it is still valid: the source said so when it was read).
            if error.code == "entra.federated_no_match", let wait = propagationWaits.first, !assertionExpires(app.credential, within: wait) {
                propagationWaits.removeFirst()
                sleeper.sleep(seconds: wait)
                continue
            }
            if retryable {
                var busy = error.saying(" after \(attempt + 1) attempt\(attempt == 0 ? "" : "s")")
                busy.context["status"] = String(response.status)
                throw busy
            }
            throw error
        }
    }

    /// Whether a federated token would expire before a pause of `seconds` ends (then it is not sent again).
    func assertionExpires(_ credential: AppCredential, within seconds: Double) -> Bool {
        guard case .assertion(let external) = credential else { return false }
        return external.expires <= now().addingTimeInterval(seconds)
    }

    func delay(attempt: Int, retryAfter: Double?) -> Double {
        if let retryAfter { return retryAfter }
        return min(retry.baseDelay * Double(1 << attempt), retry.maxDelay)
    }

    static let maxResponseBytes = 1 << 20
    static let maxTokenBytes = 64 << 10

    struct TokenResponse: Decodable {
        var access_token: String
        var token_type: String?
        var expires_in: JSONValue
        var ext_expires_in: JSONValue?
        var refresh_in: JSONValue?
    }

    /// A lifetime in whole seconds, as a JSON number or a numeric string (MSAL tolerates both). Anything else —
    /// fractions, zero or negative, more than a year, 1e300 — is refused rather than converted.
    static func lifetime(_ v: JSONValue?) -> Int64? {
        guard let v else { return nil }
        let parsed: Int64?
        switch v {
        case .number(let d): parsed = Int64(exactly: d)
        case .string(let s): parsed = Int64(s)
        default: parsed = nil
        }
        guard let parsed, (1...31_536_000).contains(parsed) else { return nil }
        return parsed
    }

    func parse(_ response: HTTPResponse, app: AppIdentity, scope: String, requestedAt: Date) throws -> AccessToken {
        // Entra's answers are a few KB: a bigger one is not read at all, and a token past 64 KiB is not a token.
        guard response.body.count <= Self.maxResponseBytes else {
            throw VaultError("entra.response", "Entra ID's token response could not be read: \(response.body.count) bytes, more than any token response")
        }
        guard let t = try? JSONDecoder().decode(TokenResponse.self, from: Data(response.body)), !t.access_token.isEmpty,
              t.access_token.utf8.count <= Self.maxTokenBytes,
              // A token is printed into headers (`--output header`) and sent in them: visible ASCII only.
              t.access_token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw VaultError("entra.response", "Entra ID's token response could not be read (HTTP 200, \(response.header("Content-Type") ?? "no content type"))")
        }
        guard let expiresIn = Self.lifetime(t.expires_in) else {
            throw VaultError("entra.response", "Entra ID's token response has an unusable expires_in (not a whole number of seconds between 1 and one year)")
        }
        let at = Int64(requestedAt.timeIntervalSince1970)
        let tid = TokenClaims.tenantID(of: t.access_token)?.lowercased()
        if let expected = app.realm, let tid, tid != expected.lowercased() {
            throw VaultError("entra.wrong_tenant", "Entra ID issued a token for tenant \(tid) to app '\(app.name)', which is stored for tenant \(expected)")
        }
        return AccessToken(
            secret: t.access_token, tokenType: t.token_type ?? "Bearer", clientID: app.clientID, environment: app.environment,
            realm: tid ?? app.realm ?? app.tenant.lowercased(), target: scope, cachedAt: at,
            expiresOn: at + expiresIn, extendedExpiresOn: at + (Self.lifetime(t.ext_expires_in) ?? expiresIn),
            refreshOn: Self.lifetime(t.refresh_in).map { at + min($0, expiresIn) })
    }

    /// `client_id, grant_type, client_info, client_secret, scope` (MSAL's order), form-encoded in secret memory.
    public static func formBody(clientID: String, secret: SecretBytes, scope: String) -> SecretBytes {
        let head = "client_id=\(FormEncoding.encode(clientID))&grant_type=client_credentials&client_info=1&client_secret="
        let tail = "&scope=\(FormEncoding.encode(scope))"
        return SecretBytes.concat([FormEncoding.bytes(head), FormEncoding.encode(secret), FormEncoding.bytes(tail)])
    }
}

/// `application/x-www-form-urlencoded`: space → `+`; `A-Z a-z 0-9 ~ . _ -` literal; everything else `%XX`.
public enum FormEncoding {
    static func unreserved(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x2d || b == 0x2e || b == 0x5f || b == 0x7e
    }
    static let hex = Array("0123456789ABCDEF".utf8)

    public static func encode(_ s: String) -> String {
        var out: [UInt8] = []
        for b in s.utf8 {
            if unreserved(b) { out.append(b) } else if b == 0x20 { out.append(0x2b) } else { out += [0x25, hex[Int(b >> 4)], hex[Int(b & 15)]] }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Encodes a secret into new secret memory.
    public static func encode(_ secret: SecretBytes) -> SecretBytes {
        let size = secret.withUnsafeBytes { $0.reduce(0) { $0 + (unreserved($1) || $1 == 0x20 ? 1 : 3) } }
        let out = SecretBytes(count: size)
        secret.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                var o = 0
                for b in src {
                    if unreserved(b) { dst[o] = b; o += 1 } else if b == 0x20 { dst[o] = 0x2b; o += 1 } else {
                        dst[o] = 0x25; dst[o + 1] = hex[Int(b >> 4)]; dst[o + 2] = hex[Int(b & 15)]; o += 3
                    }
                }
            }
        }
        return out
    }

    static func bytes(_ s: String) -> SecretBytes {
        var b = Array(s.utf8)
        return SecretBytes(consuming: &b)
    }
}

/// Reads claims of an access token for diagnostics only (never to trust it).
public enum TokenClaims {
    public static func payload(of token: String) -> [String: JSONValue]? {
        let parts = token.split(separator: ".")
        guard parts.count == 3 else { return nil }
        var b64 = String(parts[1].map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64) else { return nil }
        return (try? JSONDecoder().decode(JSONValue.self, from: data))?.object
    }

    public static func tenantID(of token: String) -> String? { payload(of: token)?["tid"]?.string }
}
