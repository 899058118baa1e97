import FoundationEssentials
import Synchronization

/// What `vault serve --metrics-listen` exposes. Labels are only app names, canonical resources that passed the
/// allow-list, token sources, AADSTS families and credential kinds: never a token, a secret, the identity header, a
/// peer or a resource that was refused. Names follow Prometheus' conventions (`vault_…_total`, base units, `_seconds`).
public final class ServeMetrics: Sendable {
    public enum TokenSource: String, Sendable { case cache, fetch }

    /// Bucket bounds of the Entra request latency histogram, in seconds.
    public static let latencyBuckets: [Double] = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

    struct Served: Hashable { let app: String; let resource: String; let source: TokenSource }
    struct Failure: Hashable { let app: String; let family: String }
    struct State {
        var served: [Served: Int] = [:]
        var entraRequests: [String: Int] = [:]
        var entraErrors: [Failure: Int] = [:]
        var buckets = [Int](repeating: 0, count: ServeMetrics.latencyBuckets.count)
        var latencyCount = 0
        var latencySum = 0.0
        var lastRefresh: [String: Int64] = [:]
        var expiry: [String: [String: Int64]] = [:]
        var auditFailures = 0
    }
    private let state = Mutex(State())
    public let apps: [String]

    public init(apps: [String]) { self.apps = apps }

    public func tokenServed(app: String, resource: String, source: TokenSource) {
        state.withLock { $0.served[Served(app: app, resource: resource, source: source), default: 0] += 1 }
    }

    /// One token request to Entra ID: its duration, and on failure the error's AADSTS code (or nil).
    public func entraRequest(app: String, seconds: Double, failed: Bool, errorText: String?, at now: Int64) {
        state.withLock { s in
            s.entraRequests[app, default: 0] += 1
            s.latencyCount += 1
            s.latencySum += seconds
            for (i, bound) in Self.latencyBuckets.enumerated() where seconds <= bound { s.buckets[i] += 1 }
            if failed {
                s.entraErrors[Failure(app: app, family: Self.family(errorText ?? "")), default: 0] += 1
            } else {
                s.lastRefresh[app] = now
            }
        }
    }

    public func credentialExpiry(app: String, credential: String, at end: Int64) {
        state.withLock { $0.expiry[app, default: [:]][credential] = end }
    }

    public func auditWriteFailed() { state.withLock { $0.auditFailures += 1 } }

    /// `AADSTS7000215` → `AADSTS7000xxx` (its last three digits are the error within the family); none → `other`.
    public static func family(_ text: String) -> String {
        guard let r = text.firstRange(of: "AADSTS") else { return "other" }
        let digits = text[r.upperBound...].prefix { $0.isASCII && $0.isNumber }
        guard digits.count >= 4 else { return "other" }
        return "AADSTS" + digits.dropLast(3) + "xxx"
    }

    public enum Format: Sendable {
        /// Prometheus' text format 0.0.4 (what node_exporter and `prometheus_client.parser` read).
        case text
        /// OpenMetrics 1.0 (counter families named without `_total`, `# EOF`).
        case openMetrics
        public var contentType: String {
            switch self {
            case .text: "text/plain; version=0.0.4; charset=utf-8"
            case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
            }
        }
    }

    public func render(_ format: Format) -> String {
        let s = state.withLock { $0 }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            let shown = format == .openMetrics && type == "counter" && name.hasSuffix("_total") ? String(name.dropLast(6)) : name
            out += "# HELP \(shown) \(help)\n# TYPE \(shown) \(type)\n"
        }
        func l(_ pairs: [(String, String)]) -> String {
            pairs.isEmpty ? "" : "{" + pairs.map { "\($0.0)=\"\(Self.labelValue($0.1))\"" }.joined(separator: ",") + "}"
        }
        family("vault_tokens_served_total", "counter", "Tokens handed out, by app, resource and source (cache: from memory or the encrypted cache; fetch: from Entra ID).")
        for (k, v) in s.served.sorted(by: { ($0.key.app, $0.key.resource, $0.key.source.rawValue) < ($1.key.app, $1.key.resource, $1.key.source.rawValue) }) {
            out += "vault_tokens_served_total\(l([("app", k.app), ("resource", k.resource), ("source", k.source.rawValue)])) \(v)\n"
        }
        family("vault_entra_requests_total", "counter", "Token requests sent to Entra ID, by app.")
        for app in apps { out += "vault_entra_requests_total\(l([("app", app)])) \(s.entraRequests[app] ?? 0)\n" }
        family("vault_entra_errors_total", "counter", "Token requests Entra ID refused or that failed, by app and AADSTS family (other: no AADSTS code).")
        for (k, v) in s.entraErrors.sorted(by: { ($0.key.app, $0.key.family) < ($1.key.app, $1.key.family) }) {
            out += "vault_entra_errors_total\(l([("app", k.app), ("family", k.family)])) \(v)\n"
        }
        family("vault_entra_request_duration_seconds", "histogram", "Duration of token requests to Entra ID.")
        for (i, bound) in Self.latencyBuckets.enumerated() {
            out += "vault_entra_request_duration_seconds_bucket\(l([("le", Self.number(bound))])) \(s.buckets[i])\n"
        }
        out += "vault_entra_request_duration_seconds_bucket\(l([("le", "+Inf")])) \(s.latencyCount)\n"
        out += "vault_entra_request_duration_seconds_sum \(Self.number(s.latencySum))\n"
        out += "vault_entra_request_duration_seconds_count \(s.latencyCount)\n"
        family("vault_credential_expiry_timestamp_seconds", "gauge", "End of validity of each served app's credential (Unix time), as the vault stored it.")
        for app in apps {
            for (credential, end) in (s.expiry[app] ?? [:]).sorted(by: { $0.key < $1.key }) {
                out += "vault_credential_expiry_timestamp_seconds\(l([("app", app), ("credential", credential)])) \(end)\n"
            }
        }
        family("vault_token_last_refresh_timestamp_seconds", "gauge", "When a token was last fetched from Entra ID successfully, by app (Unix time).")
        for app in apps { if let t = s.lastRefresh[app] { out += "vault_token_last_refresh_timestamp_seconds\(l([("app", app)])) \(t)\n" } }
        family("vault_audit_write_failures_total", "counter", "Audit log lines that could not be written.")
        out += "vault_audit_write_failures_total \(s.auditFailures)\n"
        out += "# EOF\n"
        return out
    }

    static func number(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }

    /// An OpenMetrics label value: backslash, double quote and line feed escaped (the one rule, for `/metrics` and
    /// `vault report --output openmetrics`).
    public static func labelValue(_ s: String) -> String {
        var out = ""
        for ch in s.unicodeScalars {
            switch ch {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
