import FoundationEssentials
import VaultCrypto
import VaultErrors

/// An HTTP request. A body that carries a secret (a token request's form) is `SecretBytes` and stays in secret
/// memory until libcurl has sent it.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: SecretBytes?
    /// Runs once the connection is up, immediately before the request leaves (a write that must not go out once a
    /// lock may have lapsed checks it here). Throwing stops the request unsent, and `send` throws that error.
    public var beforeSend: BeforeSend?

    public init(method: String, url: String, headers: [(String, String)] = [], body: SecretBytes? = nil, beforeSend: BeforeSend? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.beforeSend = beforeSend
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// A last check before a request leaves; see `HTTPRequest.beforeSend`.
public typealias BeforeSend = @Sendable () throws -> Void

/// An HTTP response (body already gunzipped by the transport).
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.last { $0.0.lowercased() == name.lowercased() }?.1
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// Sends requests. Implementations: `CurlTransport` (libcurl) and in-memory twins in tests.
public protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequest) throws -> HTTPResponse
}

/// Transport settings.
public struct HTTPOptions: Sendable {
    /// PEM file of CAs to trust instead of the system's (`--ca-bundle`, `VAULT_CA_BUNDLE`).
    public var caBundle: String?
    /// The bundle's PEM bytes, read (and checked) by the caller: handed to libcurl in memory, so the file checked is
    /// the file trusted. Takes precedence over `caBundle`, which is then only its name.
    public var caBundlePEM: [UInt8]?
    public var connectTimeout: Double = 10
    public var totalTimeout: Double = 60
    public var maxResponseBytes = 16 << 20
    public var userAgent = "vault"

    public init(caBundle: String? = nil) { self.caBundle = caBundle }
}

/// Transport failures, each mapped to a `VaultError` with an exit code that says whether to try again.
public enum TransportFailure {
    /// Whether a failure is worth retrying: the connection broke. A timeout is not retried: it already waited.
    public static func isRetryable(_ error: VaultError) -> Bool { error.code == "http.connect" }

    public static func connect(_ url: String, _ detail: String) -> VaultError {
        VaultError("http.connect", "cannot connect to \(URLParts.origin(url)): \(detail)")
    }
    public static func timeout(_ url: String, seconds: Double) -> VaultError {
        VaultError("http.timeout", "no answer from \(URLParts.origin(url)) within \(Int(seconds)) s")
    }
    public static func tls(_ url: String, _ detail: String) -> VaultError {
        VaultError("http.tls", "TLS failure talking to \(URLParts.origin(url)): \(detail)")
    }
    public static func tooLarge(_ url: String, limit: Int) -> VaultError {
        VaultError("http.too_large", "the response from \(URLParts.origin(url)) is larger than \(limit >> 20) MiB")
    }
    public static func insecure(_ url: String) -> VaultError {
        VaultError("http.insecure", "refusing plain http to \(URLParts.origin(url)): vault requires https except for 127.0.0.1/localhost")
    }
}

/// Minimal URL inspection (no Foundation).
public enum URLParts {
    /// `scheme://host[:port]`
    public static func origin(_ url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        // One slice of `url` (scheme, "://", authority), not String + Substring: that generic `+` looks up
        // Substring's conformances at run time, a scan of every conformance record on a warm `vault token`.
        return String(url[..<authority.endIndex])
    }

    /// The origin for comparisons: scheme and host lower-cased, the scheme's default port dropped, any user-info
    /// kept (so a URL with user-info never equals one without). `https://Graph.Microsoft.com:443/x` and
    /// `https://graph.microsoft.com/y` have the same origin.
    public static func normalisedOrigin(_ url: String) -> String {
        let o = origin(url)
        guard let r = o.firstRange(of: "://") else { return o.lowercased() }
        let scheme = o[..<r.lowerBound].lowercased()
        var authority = o[r.upperBound...].lowercased()
        let defaultPort = scheme == "https" ? ":443" : scheme == "http" ? ":80" : nil
        if let defaultPort, authority.hasSuffix(defaultPort) { authority = String(authority.dropLast(defaultPort.count)) }
        return scheme + "://" + authority
    }

    public static func scheme(_ url: String) -> String {
        String(url.prefix { $0 != ":" }).lowercased()
    }

    /// Host without port, lower-cased (`[::1]` keeps its brackets).
    public static func host(_ url: String) -> String {
        let o = origin(url)
        guard let r = o.firstRange(of: "://") else { return "" }
        var a = String(o[r.upperBound...])
        if let at = a.lastIndex(of: "@") { a = String(a[a.index(after: at)...]) }
        if a.hasPrefix("[") { return String(a.prefix { $0 != "]" }) + "]" }
        return String(a.prefix { $0 != ":" }).lowercased()
    }

    public static func isLoopback(_ url: String) -> Bool {
        ["127.0.0.1", "localhost", "[::1]"].contains(host(url))
    }
}

/// What may be sent as a header: a name that is an HTTP token (RFC 9110 §5.6.2) and a value without CR, LF, NUL or
/// other control characters (tab allowed), so no value can end its line and start another header.
public enum HeaderRules {
    static let tokenPunctuation = Set("!#$%&'*+-.^_`|~".utf8)

    public static func isToken(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || tokenPunctuation.contains(b)
        }
    }

    public static func isValidValue(_ value: String) -> Bool {
        value.utf8.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7f) }
    }

    /// Why a header cannot be sent, or nil.
    public static func problem(name: String, value: String) -> String? {
        if !isToken(name) { return "its name is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~ only)" }
        if !isValidValue(value) { return "its value holds a line break, NUL or another control character" }
        return nil
    }
}
