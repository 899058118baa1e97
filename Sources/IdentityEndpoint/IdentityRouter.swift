import Synchronization
import VaultCrypto

/// The App Service `X-IDENTITY-HEADER` value, replaceable while serving (`vault serve` re-reads its file on SIGHUP, so
/// a leaked header is retired by replacing the file).
public final class IdentityHeaderSecret: Sendable {
    private let value: Mutex<SecretBytes>

    public init(_ value: SecretBytes) { self.value = Mutex(value) }

    public func replace(_ fresh: SecretBytes) { value.withLock { $0 = fresh } }

    func matches(_ given: String) -> Bool {
        value.withLock { expected in Array(given.utf8).withUnsafeBytes { expected.constantTimeEquals($0) } }
    }
}

/// Maps one HTTP request (method, target, headers) to a token request or a refusal. Pure: no I/O, no clock.
public struct IdentityRouter: Sendable {
    public static let appServicePath = "/msi/token"
    public static let imdsPath = "/metadata/identity/oauth2/token"
    public static let appServiceVersion = "2019-08-01"
    /// IMDS clients send 2018-02-01; later versions change nothing vault serves.
    public static let imdsVersions: Set<String> = ["2018-02-01", "2018-10-01", "2019-08-01", "2021-02-01"]
    static let maxTarget = 8192

    /// The `X-IDENTITY-HEADER` value App Service clients must send (nil: the App Service path is not served).
    let identityHeader: IdentityHeaderSecret?
    let servesIMDS: Bool

    public init(identityHeader: IdentityHeaderSecret?, servesIMDS: Bool) {
        self.identityHeader = identityHeader
        self.servesIMDS = servesIMDS
    }

    public init(identityHeader: SecretBytes?, servesIMDS: Bool) {
        self.init(identityHeader: identityHeader.map(IdentityHeaderSecret.init), servesIMDS: servesIMDS)
    }

    /// `headers` as received (names in any case). `localPort`: the TCP port the request came in on, whose loopback
    /// names are the only `Host` values accepted (nil for a Unix socket, which no web page can reach).
    public func route(method: String, target: String, headers: [(name: String, value: String)], peer: IdentityPeer,
                      localPort: Int? = nil) -> Result<IdentityRequest, IdentityRefusal> {
        func header(_ name: String) -> [String] { headers.filter { Self.sameName($0.name, name) }.map(\.value) }
        // A web page can make a browser send requests here (DNS rebinding makes its own name 127.0.0.1): browsers add
        // Origin or Sec-Fetch-* and the page's Host, and a proxy adds X-Forwarded-For, which the real IMDS refuses too.
        if headers.contains(where: { Self.sameName($0.name, "origin") || Self.hasPrefix($0.name, "sec-fetch-") }) {
            return .failure(IdentityRefusal(status: 403, code: "invalid_request", message: "requests from a web browser are refused"))
        }
        if !header("x-forwarded-for").isEmpty || !header("forwarded").isEmpty {
            return .failure(IdentityRefusal(status: 400, code: "invalid_request", message: "Request contains X-Forwarded-For header"))
        }
        if let localPort {
            let hosts = header("host")
            guard hosts.count <= 1, hosts.allSatisfy({ Self.isLoopbackHost($0, port: localPort, imds: servesIMDS) }) else {
                return .failure(IdentityRefusal(status: 403, code: "invalid_request",
                                                message: "Host \(Self.printable(hosts.joined(separator: ", "))) is not this endpoint; use 127.0.0.1:\(localPort)"))
            }
        }
        let metadata = header("metadata")
        let identity = header("x-identity-header")
        // Go's DefaultAzureCredential probes with neither header and waits 1 s: answer at once.
        guard metadata.contains(where: { $0.lowercased() == "true" }) || !identity.isEmpty else {
            return .failure(IdentityRefusal(status: 400, code: "invalid_request", message: "Required metadata header not specified"))
        }
        guard target.utf8.count <= Self.maxTarget else {
            return .failure(IdentityRefusal(status: 400, code: "invalid_request", message: "request target too long"))
        }
        let (path, query) = Self.split(target)
        let kind: IdentityProtocol
        if path == Self.appServicePath, identityHeader != nil {
            kind = .appService
        } else if path == Self.imdsPath, servesIMDS {
            kind = .imds
        } else {
            return .failure(IdentityRefusal(status: 404, code: "not_found", message: "no managed-identity endpoint at \(path)"))
        }
        guard method == "GET" else {
            return .failure(IdentityRefusal(status: 405, code: "invalid_request", message: "method \(method) not allowed; use GET"))
        }
        if kind == .appService {
            guard identity.count == 1, let expected = identityHeader, expected.matches(identity[0]) else {
                return .failure(IdentityRefusal(status: 401, code: "unauthorized_client",
                                                message: identity.isEmpty ? "X-IDENTITY-HEADER is missing" : "X-IDENTITY-HEADER does not match"))
            }
        } else {
            guard metadata.count == 1, metadata[0].lowercased() == "true" else {
                return .failure(IdentityRefusal(status: 400, code: "invalid_request", message: "Required metadata header not specified"))
            }
        }
        guard let params = Self.parseQuery(query) else {
            return .failure(IdentityRefusal(status: 400, code: "invalid_request", message: "malformed query string"))
        }
        func single(_ name: String) -> Result<String?, IdentityRefusal> {
            let values = params.filter { $0.0 == name }.map(\.1)
            if values.count > 1 { return .failure(IdentityRefusal(status: 400, code: "invalid_request", message: "parameter \(name) given more than once")) }
            return .success(values.first)
        }
        let version: String?
        let resource: String?
        do {
            version = try single("api-version").get()
            resource = try single("resource").get()
        } catch { return .failure(error) }
        guard let version, !version.isEmpty else {
            return .failure(IdentityRefusal(status: 400, code: "invalid_request", message: "api-version is required"))
        }
        if kind == .appService ? version != Self.appServiceVersion : !Self.imdsVersions.contains(version) {
            return .failure(IdentityRefusal(status: 400, code: "invalid_request",
                                            message: "api-version \(version) is not supported; use \(kind == .appService ? Self.appServiceVersion : "2018-02-01")"))
        }
        guard let resource, !resource.isEmpty else {
            return .failure(IdentityRefusal(status: 400, code: "invalid_request", message: "resource is required"))
        }
        guard Self.plausibleResource(resource) else {
            return .failure(IdentityRefusal(status: 400, code: "invalid_resource", message: "resource '\(Self.printable(resource))' is not a resource URI or app id"))
        }
        var selectors: [IdentitySelector] = []
        // Every selector name either protocol knows counts on both: one the caller sent must never be ignored (it
        // would get the default app's token instead of the identity it asked for).
        let names: [(String, (String) -> IdentitySelector)] = [
            ("client_id", { .clientID($0) }), ("object_id", { .objectID($0) }), ("principal_id", { .objectID($0) }),
            ("mi_res_id", { .resourceID($0) }), ("msi_res_id", { .resourceID($0) }),
        ]
        for (name, make) in names {
            for v in params where v.0 == name { selectors.append(make(v.1)) }
        }
        guard selectors.count <= 1 else {
            return .failure(IdentityRefusal(status: 400, code: "invalid_request", message: "give at most one of client_id, object_id, principal_id, mi_res_id, msi_res_id"))
        }
        return .success(IdentityRequest(kind: kind, resource: resource, selector: selectors.first, peer: peer))
    }

    /// ASCII case-insensitive equality of a header name with a lower-case one, without making strings.
    static func sameName(_ given: String, _ lower: String) -> Bool {
        var a = given.utf8.makeIterator()
        var b = lower.utf8.makeIterator()
        while true {
            switch (a.next(), b.next()) {
            case (nil, nil): return true
            case (let x?, let y?):
                let folded = x >= UInt8(ascii: "A") && x <= UInt8(ascii: "Z") ? x | 0x20 : x
                if folded != y { return false }
            default: return false
            }
        }
    }

    static func hasPrefix(_ given: String, _ lower: String) -> Bool {
        let g = Array(given.utf8)
        let l = Array(lower.utf8)
        guard g.count >= l.count else { return false }
        for i in l.indices where (g[i] >= 0x41 && g[i] <= 0x5a ? g[i] | 0x20 : g[i]) != l[i] { return false }
        return true
    }

    /// `127.0.0.1`, `localhost` or `[::1]`, with no port or the endpoint's own; `169.254.169.254` (port 80) where IMDS
    /// is served, for hosts that redirect the real IMDS address to vault.
    static func isLoopbackHost(_ value: String, port: Int, imds: Bool) -> Bool {
        let v = value.lowercased()
        for name in ["127.0.0.1", "localhost", "[::1]"] where v == name || v == "\(name):\(port)" { return true }
        return imds && (v == "169.254.169.254" || v == "169.254.169.254:80")
    }

    static func split(_ target: String) -> (path: Substring, query: Substring) {
        guard let q = target.firstIndex(of: "?") else { return (target[...], "") }
        return (target[..<q], target[target.index(after: q)...])
    }

    /// `application/x-www-form-urlencoded` pairs; nil for a bad escape or text that is not UTF-8.
    static func parseQuery(_ query: Substring) -> [(String, String)]? {
        var out: [(String, String)] = []
        var query = query
        let ok = query.withUTF8 { q -> Bool in
            var start = 0
            while start <= q.count {
                var end = start
                while end < q.count, q[end] != UInt8(ascii: "&") { end += 1 }
                if end > start {
                    var eq = start
                    while eq < end, q[eq] != UInt8(ascii: "=") { eq += 1 }
                    guard let name = percentDecode(UnsafeBufferPointer(rebasing: q[start..<eq])),
                          let value = percentDecode(UnsafeBufferPointer(rebasing: q[min(eq + 1, end)..<end])) else { return false }
                    out.append((name, value))
                }
                start = end + 1
            }
            return true
        }
        return ok ? out : nil
    }

    static func percentDecode(_ s: Substring) -> String? {
        var s = s
        return s.withUTF8 { percentDecode($0) }
    }

    static func percentDecode(_ s: UnsafeBufferPointer<UInt8>) -> String? {
        if !s.contains(UInt8(ascii: "%")) && !s.contains(UInt8(ascii: "+")) { return String(validating: s, as: UTF8.self) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.count)
        var it = s.makeIterator()
        while let c = it.next() {
            switch c {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let h = it.next().flatMap(hexValue), let l = it.next().flatMap(hexValue) else { return nil }
                bytes.append(h << 4 | l)
            default: bytes.append(c)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// A resource is a URI (`https://…`, `api://…`) or an app id: printable ASCII, no spaces, at most 512 bytes.
    static func plausibleResource(_ r: String) -> Bool {
        guard r.utf8.count <= 512 else { return false }
        return r.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }

    /// For messages: control characters and non-ASCII replaced, at most 80 characters.
    static func printable(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.prefix(80).map { $0.value >= 0x20 && $0.value < 0x7f ? $0 : "?" }))
    }
}
