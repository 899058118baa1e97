import FoundationEssentials
import VaultCrypto
import VaultHTTP

/// Hands out access tokens; Graph never fetches them itself. `rejecting` names a token Graph refused as expired.
public protocol AccessTokenSource: Sendable {
    func accessToken(rejecting: String?) throws -> String
}

/// The Graph SDKs' retry policy (graph-api.md §4): 429/503/504, `Retry-After` honoured (fractions too), else
/// exponential backoff from a 3 s base; at most `maxRetries` retries, no delay of 180 s or more, and a cap on the
/// total time spent waiting.
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
        self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
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
        guard URLParts.origin(url).lowercased() == URLParts.origin(root).lowercased() else {
            throw VaultError("graph.foreign_link", "refusing to follow a link to \(URLParts.origin(url)): it is not the Graph root \(URLParts.origin(root))",
                             hint: "vault sends the app's token only to its Graph root", exit: .dataError)
        }
    }

    /// Sends one request with retries and the expired-token refresh; throws `VaultError` for any non-2xx answer.
    /// A request that is not `idempotent` (addPassword) is retried only on 429, which Graph answers before doing
    /// anything: a 503/504 may come after the server acted, and a second attempt would act twice.
    public func send(_ method: String, _ pathOrURL: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
                     permissionHint: String? = nil, idempotent: Bool = true) throws -> GraphResponse {
        let url = self.url(pathOrURL)
        try checkSameOrigin(url)
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
            let r = try transport.send(HTTPRequest(method: method, url: url, headers: h, body: secretBody))
            let response = GraphResponse(status: r.status, headers: r.headers, body: r.body)
            if (200..<300).contains(r.status) { return response }
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
            throw error.vaultError(status: r.status, method: method, url: url, attempts: attempt + 1, permissionHint: permissionHint)
        }
    }
}

/// Graph's error envelope (graph-api.md §3), read leniently.
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

    func vaultError(status: Int, method: String, url: String, attempts: Int, permissionHint: String?) -> VaultError {
        let support = requestID.map { " (request-id \($0))" } ?? ""
        let what = code.isEmpty ? "HTTP \(status)" : "\(status) \(code): \(message)"
        let path = url.split(separator: "?").first.map(String.init) ?? url
        switch status {
        case 401:
            return VaultError("graph.unauthorized", "Graph refused the token for \(method) \(path): \(what)\(support)",
                              hint: "the token was not accepted; `vault cache clear` and try again, and check the app's tenant and cloud",
                              exit: .noPermission)
        case 403:
            return VaultError("graph.forbidden", "Graph denied \(method) \(path): \(what)\(support)",
                              hint: permissionHint ?? "the app lacks the application permission this call needs, or admin consent for it",
                              exit: .noPermission)
        case 404:
            return VaultError("graph.not_found", "Graph found nothing at \(path): \(what)\(support)", exit: .dataError)
        case 429, 503, 504:
            return VaultError("graph.unavailable", "Graph kept answering \(status) after \(attempts) attempt\(attempts == 1 ? "" : "s") for \(method) \(path)\(support)",
                              hint: "Graph is throttling or unavailable; try again later", exit: .tempFailure)
        case 400..<500:
            return VaultError("graph.bad_request", "Graph refused \(method) \(path): \(what)\(support)", exit: .dataError)
        default:
            return VaultError("graph.server", "Graph failed on \(method) \(path): \(what)\(support)", exit: .tempFailure)
        }
    }
}
