import FoundationEssentials
import VaultCrypto
import VaultErrors
import VaultHTTP
import VaultJSON

/// Hands out access tokens; Graph never fetches them itself. `rejecting` names a token Graph refused as expired.
public protocol AccessTokenSource: Sendable {
    func accessToken(rejecting: String?) throws -> String
}

/// The Graph SDKs' retry policy (docs/protocols.md, "Graph: throttling and retries"): 429/503/504, `Retry-After`
/// honoured (fractions too), else exponential backoff from a 3 s base; at most `maxRetries` retries, no delay of 180 s
/// or more, and a cap on the total time spent waiting.
public struct GraphRetryPolicy: Sendable {
    public var maxRetries = 3
    public var baseDelay = 3.0
    public var maxDelay = 180.0
    public var maxTotalDelay = 300.0
    public init() {}
}

/// A Graph response with its body.
public struct GraphResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    public func header(_ name: String) -> String? { headers.last { $0.0.lowercased() == name.lowercased() }?.1 }
}

/// Graph requests: auth, client-request-id, retries, one token refresh on an expired token, clear errors.
public struct GraphClient: Sendable {
    public let root: String
    let transport: any HTTPTransport
    let tokens: any AccessTokenSource
    let retry: GraphRetryPolicy
    let sleeper: any Sleeper
    let userAgent: String
    /// Called before each retry wait (attempt, seconds, status) — the CLI shows it on a terminal.
    let onRetry: (@Sendable (Int, Double, Int) -> Void)?

    public init(root: String, transport: any HTTPTransport, tokens: any AccessTokenSource, retry: GraphRetryPolicy = GraphRetryPolicy(),
                sleeper: any Sleeper = ThreadSleeper(), userAgent: String = "vault", onRetry: (@Sendable (Int, Double, Int) -> Void)? = nil) {
        var r = root.hasSuffix("/") ? String(root.dropLast()) : root
        // A root pasted with its version would double it (`…/v1.0/v1.0/users`).
        for v in ["/v1.0", "/beta"] where r.lowercased().hasSuffix(v) { r = String(r.dropLast(v.count)) }
        self.root = r
        self.transport = transport
        self.tokens = tokens
        self.retry = retry
        self.sleeper = sleeper
        self.userAgent = userAgent
        self.onRetry = onRetry
    }

    /// `https://graph.microsoft.com/v1.0` + path.
    public func url(_ path: String) -> String {
        if path.hasPrefix("https://") || path.hasPrefix("http://") { return path }
        let p = path.hasPrefix("/") ? path : "/" + path
        return p.hasPrefix("/v1.0/") || p.hasPrefix("/beta/") ? root + p : root + "/v1.0" + p
    }

    /// Refuses any absolute URL that is not under the Graph root (the token must never leave for another host).
    public func checkSameOrigin(_ url: String) throws {
        guard URLParts.normalisedOrigin(url) == URLParts.normalisedOrigin(root) else {
            throw VaultError("graph.foreign_link", "refusing to follow a link to \(URLParts.origin(url)): it is not the Graph root \(URLParts.origin(root))")
        }
    }

    /// Sends one request with retries and the expired-token refresh; throws `VaultError` for any non-2xx answer.
    /// `beforeSend` runs immediately before each attempt leaves (a rotation confirms its lock there).
    /// A request that is not `idempotent` (addPassword) is retried only on 429, which Graph answers before doing
    /// anything: a 503/504 may come after the server acted, and a second attempt would act twice.
    public func send(_ method: String, _ pathOrURL: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
                     permission: GraphPermission? = nil, idempotent: Bool = true, followRedirects: Bool = false,
                     beforeSend: BeforeSend? = nil) throws -> GraphResponse {
        var url = self.url(pathOrURL)
        try checkSameOrigin(url)
        var redirects = 0
        var token = try tokens.accessToken(rejecting: nil)
        var refreshed = false
        var attempt = 0
        var waited = 0.0
        let clientRequestID = UUID().uuidString.lowercased()
        while true {
            var h: [(String, String)] = [("Authorization", "Bearer \(token)"), ("Accept", "application/json"),
                                         ("client-request-id", clientRequestID), ("User-Agent", userAgent)]
            if attempt > 0 { h.append(("Retry-Attempt", String(attempt))) }
            if body != nil { h.append(("Content-Type", "application/json")) }
            h += headers
            var secretBody: SecretBytes?
            if var b = body { secretBody = SecretBytes(consuming: &b) }
            let r = try transport.send(HTTPRequest(method: method, url: url, headers: h, body: secretBody, beforeSend: beforeSend))
            let response = GraphResponse(status: r.status, headers: r.headers, body: r.body)
            if (200..<300).contains(r.status) { return response }
            if [301, 302, 303, 307, 308].contains(r.status), method == "GET" {
                guard let location = r.headers.last(where: { $0.0.lowercased() == "location" })?.1, !location.isEmpty else {
                    throw VaultError("graph.redirect", "Graph answered \(r.status) to GET \(Self.shown(url)) without a Location")
                }
                let target = Self.resolve(location, against: url)
                guard followRedirects else {
                    throw VaultError("graph.redirect", "Graph answered \(r.status), a redirect to \(Self.shown(target)), which vault did not follow", context: ["case": "origin"])
                }
                redirects += 1
                guard redirects <= Self.maxRedirects else {
                    throw VaultError("graph.redirect", "Graph redirected more than \(Self.maxRedirects) times; stopped at \(Self.shown(target))")
                }
                if URLParts.normalisedOrigin(target) == URLParts.normalisedOrigin(root) {
                    url = target
                    continue
                }
                return try fetchForeign(target, redirects: redirects)
            }
            let error = GraphErrorBody(response)
            if r.status == 401, !refreshed, error.code == "InvalidAuthenticationToken", error.message.contains("expired") {
                token = try tokens.accessToken(rejecting: token)
                refreshed = true
                continue
            }
            if (idempotent ? [429, 503, 504] : [429]).contains(r.status), attempt < retry.maxRetries {
                let delay = RetryAfter.seconds(response.header("Retry-After")).flatMap { $0 > 0 ? $0 : nil }
                    ?? retry.baseDelay * Double(1 << attempt)
                if delay < retry.maxDelay, waited + delay <= retry.maxTotalDelay {
                    onRetry?(attempt + 1, delay, r.status)
                    sleeper.sleep(seconds: delay)
                    waited += delay
                    attempt += 1
                    continue
                }
            }
            throw error.vaultError(status: r.status, method: method, url: url, attempts: attempt + 1, permission: permission)
        }
    }
}

extension GraphClient {
    static let maxRedirects = 5

    /// A URL for messages: origin and path only, so a signed query (a storage SAS) never reaches a terminal or log.
    static func shown(_ url: String) -> String { url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url }

    /// `Location` as an absolute URL (absolute, or a path on the current origin).
    static func resolve(_ location: String, against current: String) -> String {
        if location.lowercased().hasPrefix("https://") || location.lowercased().hasPrefix("http://") { return location }
        if location.hasPrefix("/") { return URLParts.origin(current) + location }
        let base = current.split(separator: "?", maxSplits: 1)[0]
        return String(base[..<(base.lastIndex(of: "/") ?? base.endIndex)]) + "/" + location
    }

    /// A download from another origin (report downloads redirect to storage with a signed URL): a plain GET without
    /// the Authorization header or any header the user gave; further redirects are followed the same way.
    func fetchForeign(_ start: String, redirects: Int) throws -> GraphResponse {
        var url = start
        var count = redirects
        while true {
            let r = try transport.send(HTTPRequest(method: "GET", url: url, headers: [("Accept", "*/*"), ("User-Agent", userAgent)]))
            if (200..<300).contains(r.status) { return GraphResponse(status: r.status, headers: r.headers, body: r.body) }
            if [301, 302, 303, 307, 308].contains(r.status), let location = r.header("Location"), count < Self.maxRedirects {
                count += 1
                url = Self.resolve(location, against: url)
                continue
            }
            throw VaultError("graph.redirect_target", "the redirect target \(Self.shown(url)) answered HTTP \(r.status)")
        }
    }
}

/// Graph's error envelope (docs/protocols.md, "Graph: error envelope"), read leniently.
struct GraphErrorBody {
    var code = ""
    var message = ""
    var requestID: String?

    init(_ r: GraphResponse) {
        requestID = r.header("request-id")
        guard let members = try? JSONScan.members(r.body), let e = members["error"],
              let inner = try? JSONScan.members(Array(r.body[e])) else { return }
        let body = Array(r.body[e])
        code = inner["code"].flatMap { JSONScan.string(body, $0) } ?? ""
        message = inner["message"].flatMap { JSONScan.string(body, $0) } ?? ""
        if let ie = inner["innerError"], let innerMembers = try? JSONScan.members(Array(body[ie])) {
            let ib = Array(body[ie])
            requestID = innerMembers["request-id"].flatMap { JSONScan.string(ib, $0) } ?? requestID
        }
    }

    func vaultError(status: Int, method: String, url: String, attempts: Int, permission: GraphPermission?) -> VaultError {
        let support = requestID.map { " (request-id \($0))" } ?? ""
        let what = code.isEmpty ? "HTTP \(status)" : "\(status) \(code): \(message)"
        let path = url.split(separator: "?").first.map(String.init) ?? url
        switch (status, code) {
        case (400, "Request_UnsupportedQuery"):
            return VaultError("graph.unsupported_query", "Graph refused \(method) \(path) as an unsupported query: \(what)\(support)")
        case (400, "CredentialInvalidLifetimeAsPerAppPolicy"):
            return VaultError("graph.credential_lifetime_policy", "Graph refused the new secret's lifetime: an app-management policy of the tenant caps it (\(what))\(support)")
        case (_, "Directory_ResourceSizeExceeded"):
            return VaultError("graph.object_too_large", "Graph refused \(method) \(path): the app object is at its size limit (too many credentials)\(support)")
        default: break
        }
        switch status {
        case 501:
            // Not implemented is an answer, not an outage: repeating the request cannot help.
            return VaultError("graph.not_implemented", "Graph does not support \(method) \(path) (501): \(what)\(support)")
        case 401:
            return VaultError("graph.unauthorized", "Graph refused the token for \(method) \(path): \(what)\(support)")
        case 403:
            return VaultError("graph.forbidden", "Graph denied \(method) \(path): \(what)\(support)",
                              context: permission.map { ["permission": $0.rawValue] } ?? [:])
        case 404:
            return VaultError("graph.not_found", "Graph found nothing at \(path): \(what)\(support)")
        case 409:
            // A conflict is not proof that nothing was done: an object of that name may be there because an earlier
            // send of this very request landed (its answer lost). Kept apart from graph.bad_request, so that a
            // rotation keeps its journal and recovery looks for the object by name.
            return VaultError("graph.conflict", "Graph refused \(method) \(path) as a conflict: \(what)\(support)")
        case 429:
            // Its own code: a 429 proves the request was refused before anything was done (docs/protocols.md,
            // "Graph: throttling and retries").
            return VaultError("graph.throttled", "Graph kept answering \(status) after \(attempts) attempt\(attempts == 1 ? "" : "s") for \(method) \(path)\(support)")
        case 503, 504:
            return VaultError("graph.unavailable", "Graph kept answering \(status) after \(attempts) attempt\(attempts == 1 ? "" : "s") for \(method) \(path)\(support)")
        case 400..<500:
            return VaultError("graph.bad_request", "Graph refused \(method) \(path): \(what)\(support)")
        default:
            return VaultError("graph.server", "Graph failed on \(method) \(path): \(what)\(support)")
        }
    }
}
