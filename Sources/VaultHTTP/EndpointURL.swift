/// A base URL vault will send credentials or tokens to, parsed strictly rather than matched by prefix:
/// `scheme://host[:port][/path]` with the scheme `https` (plain `http` only when the host itself is loopback), no
/// userinfo, query or fragment, ASCII only, host names as DNS labels (IDNs in their `xn--` form), and no `.`/`..`
/// or empty path segments. The normalised form has a lower-case scheme and host, no default port and no trailing `/`.
public struct EndpointURL: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let scheme: String
    public let host: String
    /// nil for the scheme's default port.
    public let port: Int?
    /// "" or "/seg/seg".
    public let path: String

    public var origin: String { scheme + "://" + host + (port.map { ":\($0)" } ?? "") }
    public var description: String { origin + path }
    public var pathSegments: [String] { path.split(separator: "/").map(String.init) }

    /// The host is 127.0.0.0/8, ::1 or `localhost` (the name itself, not a name under it).
    public var isLoopback: Bool { Self.isLoopbackHost(host) }

    public enum Problem: Error, Equatable, Sendable {
        case notASCII, notURL, scheme(String), plainHTTP, userinfo, query, fragment, host, port, path

        /// What is wrong, in words a user can act on.
        public var reason: String {
            switch self {
            case .notASCII: "it contains spaces, control characters or non-ASCII characters (write an IDN host in its xn-- form)"
            case .notURL: "it is not an absolute URL (scheme://host)"
            case .scheme(let s): "the scheme '\(s)' is not https"
            case .plainHTTP: "plain http is allowed only to a loopback host (127.0.0.1, ::1, localhost)"
            case .userinfo: "it has a user-info part ('…@'): the host it names is not the host it would reach"
            case .query: "it has a query ('?…')"
            case .fragment: "it has a fragment ('#…')"
            case .host: "its host is not a valid DNS name or IP address"
            case .port: "its port is not a number from 1 to 65535"
            case .path: "its path has empty, '.' or '..' segments or characters outside A–Z a–z 0–9 - . _ ~"
            }
        }
    }

    public init(scheme: String, host: String, port: Int?, path: String) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.path = path
    }

    public static func parse(_ text: String) throws(Problem) -> EndpointURL {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { throw .notASCII }
        guard let sep = text.firstRange(of: "://") else { throw .notURL }
        let scheme = text[..<sep.lowerBound].lowercased()
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == "." }) else { throw .notURL }
        guard scheme == "https" || scheme == "http" else { throw .scheme(scheme) }
        // A fragment or query anywhere is refused, before the authority is even looked at.
        if text.contains("#") { throw .fragment }
        if text.contains("?") { throw .query }
        let rest = text[sep.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "\\" }
        if authority.contains("@") { throw .userinfo }
        if rest.contains("\\") { throw .path }
        let (host, port) = try hostAndPort(authority)
        let defaultPort = scheme == "https" ? 443 : 80
        let url = EndpointURL(scheme: scheme, host: host, port: port == defaultPort ? nil : port,
                              path: try normalisedPath(rest.dropFirst(authority.count)))
        if scheme == "http" && !url.isLoopback { throw .plainHTTP }
        return url
    }

    static func hostAndPort(_ authority: Substring) throws(Problem) -> (String, Int?) {
        var hostPart = authority
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw .host }
            hostPart = authority[...close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw .host }
                portText = after.dropFirst()
            }
            let inner = hostPart.dropFirst().dropLast()
            guard !inner.isEmpty, inner.contains(":"), inner.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { throw .host }
        } else {
            if let colon = authority.firstIndex(of: ":") {
                hostPart = authority[..<colon]
                portText = authority[authority.index(after: colon)...]
            }
            guard isDNSName(hostPart) || isIPv4(hostPart) else { throw .host }
        }
        var port: Int?
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let p = Int(portText), (1...65535).contains(p) else { throw .port }
            port = p
        }
        return (hostPart.lowercased(), port)
    }

    static func isDNSName(_ s: Substring) -> Bool {
        let labels = s.split(separator: ".", omittingEmptySubsequences: false)
        // A final label that is all digits would make "1.2.3.999" a name; refuse it (it is an IP address typo).
        guard !s.isEmpty, s.count <= 253, let last = labels.last, !last.allSatisfy(\.isNumber) else { return false }
        return labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-" &&
                label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }

    static func isIPv4(_ s: Substring) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { p in
            !p.isEmpty && p.count <= 3 && p.allSatisfy { $0.isASCII && $0.isNumber } && (p.count == 1 || p.first != "0") && Int(p)! <= 255
        }
    }

    static func normalisedPath(_ raw: Substring) throws(Problem) -> String {
        guard !raw.isEmpty else { return "" }
        var segments = raw.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        if segments.last == "" { segments = segments.dropLast() } // one trailing slash
        for segment in segments {
            guard !segment.isEmpty, segment != ".", segment != "..",
                  segment.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._~".contains($0)) }) else { throw .path }
        }
        return segments.isEmpty ? "" : "/" + segments.joined(separator: "/")
    }

    public static func isLoopbackHost(_ host: String) -> Bool {
        if host == "localhost" || host == "[::1]" { return true }
        return isIPv4(Substring(host)) && host.hasPrefix("127.")
    }
}
