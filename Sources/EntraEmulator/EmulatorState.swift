import EmulatorDirectory
import Foundation

/// A fault injected through the admin surface: the next `count` requests whose path contains `path` get `mode`.
public struct Fault: Codable, Sendable {
    public enum Mode: String, Codable, Sendable {
        case status429 = "429", status503 = "503", status504 = "504", status500 = "500", status403 = "403", stall, drop, html
        /// 400 Request_UnsupportedQuery, whatever the query (a tenant stricter than the docs' table).
        case unsupportedQuery = "400unsupported"
        /// 429 with a plain-text body, as Entra ID's front door sends it.
        case status429Text = "429text"
        /// The request is carried out, then answered 504 (a gateway timing out after the server acted).
        case commitThen504 = "504-after"
        /// The request is carried out, then answered with `keyId` replaced by the fault's `key_id` (a wrong answer).
        case answerKeyID = "answer-key-id"
    }
    public var path: String
    public var mode: Mode
    public var count: Int
    public var retryAfter: String?
    public var stallSeconds: Double?
    public var keyID: String?

    enum CodingKeys: String, CodingKey { case path, mode, count, retryAfter = "retry_after", stallSeconds = "stall_seconds", keyID = "key_id" }
}

/// Everything that changes while the emulator runs: app credentials, settings, faults, counters and the log.
actor EmulatorState {
    var apps: [String: AppRegistration]           // by client id
    var tokenLifetime: Int
    var propagationDelay: Double
    /// Seconds by which reads of applications lag writes (docs/protocols.md, "Graph: credential propagation").
    var replicationLag: Double
    /// How removePassword answers for a password a lagging replica cannot see: 400 (documented) or 404.
    var notFoundStatus = 400
    var faults: [Fault] = []
    var tokenRequests: [String: [String: Int]] = [:]   // client id → grant → count
    var tokensIssued: [String: Int] = [:]
    var graphRequests: [String: Int] = [:]              // path → count
    var requestsTotal = 0
    var log: [LogEntry] = []
    var usedJTIs: Set<String> = []
    /// Token-expiry injection: after this many more Graph requests, every token issued so far counts as expired.
    var expireTokensAfter: Int?
    var issuedUTIs: [String] = []
    var revokedUTIs: Set<String> = []
    /// Fault: nextLinks pointing at another origin (to test that clients refuse them).
    var nextLinkBase: String?
    static let logLimit = 5000

    /// Seconds a federated issuer's discovery document and keys are reused.
    var issuerCacheSeconds: Double

    init(apps: [AppRegistration], tokenLifetime: Int, propagationDelay: Double, replicationLag: Double = 0, issuerCacheSeconds: Double = 60) {
        self.replicationLag = replicationLag
        self.issuerCacheSeconds = issuerCacheSeconds
        var byID: [String: AppRegistration] = [:]
        for a in apps { byID[a.clientID] = a }
        self.apps = byID
        self.tokenLifetime = tokenLifetime
        self.propagationDelay = propagationDelay
    }

    func app(_ clientID: String) -> AppRegistration? { apps[clientID.lowercased()] }
    func app(objectID: String) -> AppRegistration? { apps.values.first { $0.objectID == objectID.lowercased() } }
    func allApps() -> [AppRegistration] { apps.values.sorted { $0.name < $1.name } }

    func update(_ app: AppRegistration) { apps[app.clientID] = app }

    // MARK: faults

    /// Takes the first matching fault (and uses one of its count).
    func takeFault(path: String) -> Fault? {
        guard let i = faults.firstIndex(where: { path.contains($0.path) && $0.count > 0 }) else { return nil }
        faults[i].count -= 1
        let f = faults[i]
        if faults[i].count == 0 { faults.remove(at: i) }
        return f
    }

    func addFault(_ f: Fault) { faults.append(f) }
    func clearFaults() { faults.removeAll() }

    // MARK: counters and log

    func countTokenRequest(clientID: String, grant: String) {
        tokenRequests[clientID, default: [:]][grant, default: 0] += 1
    }
    func countTokenIssued(clientID: String, uti: String) {
        tokensIssued[clientID, default: 0] += 1
        issuedUTIs.append(uti)
    }

    func countGraph(path: String) {
        graphRequests[path, default: 0] += 1
        if let n = expireTokensAfter {
            if n == 0 {
                revokedUTIs.formUnion(issuedUTIs)
                expireTokensAfter = nil
            } else {
                expireTokensAfter = n - 1
            }
        }
    }

    func isRevoked(_ uti: String) -> Bool { revokedUTIs.contains(uti) }
    func expireTokens(after requests: Int) { expireTokensAfter = requests }
    func setNextLinkBase(_ base: String?) { nextLinkBase = base }

    func record(method: String, path: String, status: Int, clientRequestID: String?, query: String? = nil, consistencyLevel: String? = nil) {
        requestsTotal += 1
        if log.count >= Self.logLimit { log.removeFirst(log.count - Self.logLimit + 1) }
        log.append(LogEntry(time: GraphTime.seconds(Date()), method: method, path: path, status: status, clientRequestID: clientRequestID,
                            query: query, consistencyLevel: consistencyLevel))
    }

    func useJTI(_ jti: String) -> Bool { usedJTIs.insert(jti).inserted }

    /// Counters as JSON bytes.
    func countersJSON() -> Data {
        let object: [String: Any] = ["token_requests": tokenRequests, "token_requests_total": tokenRequests.values.reduce(0) { $0 + $1.values.reduce(0, +) },
         "tokens_issued": tokensIssued, "graph_requests": graphRequests,
         "graph_requests_total": graphRequests.values.reduce(0, +), "requests_total": requestsTotal]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }

    func resetCounters() {
        tokenRequests = [:]; tokensIssued = [:]; graphRequests = [:]; requestsTotal = 0; log = []
    }

    func requestLogJSON() -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes]
        return (try? e.encode(["requests": log])) ?? Data()
    }

    /// An app-management policy's `passwordLifetime` cap in days (nil: none): longer secrets are refused.
    var passwordLifetimeMaxDays: Double?
    /// The most password credentials an app object holds before `Directory_ResourceSizeExceeded` (nil: no limit).
    var maxPasswords: Int?
    /// Users pages come with an empty page (and its nextLink) in front ("a page may contain zero or more results").
    var emptyPages = false

    func setPolicies(passwordLifetimeMaxDays: Double?, maxPasswords: Int?, emptyPages: Bool?, clear: Bool) {
        if clear { self.passwordLifetimeMaxDays = nil; self.maxPasswords = nil }
        if let passwordLifetimeMaxDays { self.passwordLifetimeMaxDays = passwordLifetimeMaxDays > 0 ? passwordLifetimeMaxDays : nil }
        if let maxPasswords { self.maxPasswords = maxPasswords > 0 ? maxPasswords : nil }
        if let emptyPages { self.emptyPages = emptyPages }
    }

    func setSettings(tokenLifetime: Int?, propagationDelay: Double?, replicationLag: Double? = nil, notFoundStatus: Int? = nil,
                     issuerCacheSeconds: Double? = nil) {
        if let issuerCacheSeconds, issuerCacheSeconds >= 0 { self.issuerCacheSeconds = issuerCacheSeconds }
        if let tokenLifetime { self.tokenLifetime = tokenLifetime }
        if let propagationDelay { self.propagationDelay = propagationDelay }
        if let replicationLag { self.replicationLag = replicationLag }
        if let notFoundStatus, notFoundStatus == 400 || notFoundStatus == 404 { self.notFoundStatus = notFoundStatus }
    }
}

/// One line of the request log: never a body, header value or secret.
struct LogEntry: Codable, Sendable {
    var time: String
    var method: String
    var path: String
    var status: Int
    var clientRequestID: String?
    /// The query string as sent (OData parameters, never a secret) and the ConsistencyLevel header.
    var query: String?
    var consistencyLevel: String?
    enum CodingKeys: String, CodingKey {
        case time, method, path, status, query, clientRequestID = "client_request_id", consistencyLevel = "consistency_level"
    }
}
