import FoundationEssentials
import VaultErrors
import VaultHTTP
import VaultJSON

/// OpenBao (or HashiCorp Vault) as the OIDC issuer of a federated identity credential: its discovery document and
/// its key set (JWKS), read from the engine, rewritten for static hosting, and checked where they are hosted.
/// Everything here is public data (no key ever leaves the engine); every answer is still treated as hostile: size
/// caps, one JSON scanner, and nothing but the public RSA members of a key is ever copied.
public enum OIDCIssuer {
    /// The engine's paths (unauthenticated).
    public static let discoveryPath = "/v1/identity/oidc/.well-known/openid-configuration"
    public static let keysPath = "/v1/identity/oidc/.well-known/keys"
    /// Largest discovery document read (OpenBao's is about 400 bytes).
    public static let maxDiscoveryBytes = 64 << 10
    /// Largest key set read (the emulator, like Entra, gives up on a JWKS over 512 KiB).
    public static let maxKeySetBytes = 512 << 10
    /// Entra stores only the first 100 signing keys it downloads from an issuer.
    public static let entraKeyLimit = 100
    /// Members of a JWK that only a private key has: a key set carrying one is refused whole.
    static let privateMembers: Set<String> = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]

    /// The members of a discovery document this client uses.
    public struct Discovery: Sendable, Equatable {
        public var issuer: String
        public var jwksURI: String
        /// `id_token_signing_alg_values_supported` (nil when absent).
        public var algorithms: [String]?

        public init(issuer: String, jwksURI: String, algorithms: [String]?) {
            self.issuer = issuer; self.jwksURI = jwksURI; self.algorithms = algorithms
        }
    }

    /// One key of a key set, as read: its public members only (never a private one).
    public struct Key: Sendable, Equatable {
        public var kid: String
        public var kty: String
        public var alg: String?
        public var use: String?
        public var n: String?
        public var e: String?

        public init(kid: String, kty: String, alg: String?, use: String?, n: String?, e: String?) {
            self.kid = kid; self.kty = kty; self.alg = alg; self.use = use; self.n = n; self.e = e
        }

        /// RSA, and RS256 or no algorithm named: a key Entra can verify an RS256 token with.
        public var isRS256: Bool { kty == "RSA" && (alg == nil || alg == "RS256") && n != nil && e != nil }
        /// What this key is, for messages: "RSA/RS256", "OKP/EdDSA".
        public var kind: String { kty + "/" + (alg ?? "no alg") }
    }

    // MARK: Reading

    /// A discovery document: a JSON object with string `issuer` and `jwks_uri`.
    public static func discovery(_ body: [UInt8], from source: String) throws -> Discovery {
        guard body.count <= maxDiscoveryBytes else {
            throw VaultError("issuer.response", "the discovery document from \(source) is larger than \(maxDiscoveryBytes >> 10) KiB", context: ["url": source])
        }
        guard let m = try? JSONScan.members(body) else {
            throw VaultError("issuer.response", "the discovery document from \(source) is not a JSON object", context: ["url": source])
        }
        guard let issuer = m["issuer"].flatMap({ JSONScan.string(body, $0) }), !issuer.isEmpty, issuer.utf8.count <= 600,
              let jwks = m["jwks_uri"].flatMap({ JSONScan.string(body, $0) }), !jwks.isEmpty, jwks.utf8.count <= 2048 else {
            throw VaultError("issuer.response", "the discovery document from \(source) has no issuer or jwks_uri string (at most 600 and 2048 characters)", context: ["url": source])
        }
        var algorithms: [String]?
        if let r = m["id_token_signing_alg_values_supported"] {
            var found: [String] = []
            try? JSONScan.elements(body, in: r) { if let s = JSONScan.string(body, $0), found.count < 64 { found.append(s) } }
            algorithms = found
        }
        return Discovery(issuer: issuer, jwksURI: jwks, algorithms: algorithms)
    }

    /// A key set: a JSON object whose `keys` is an array of objects, each with string `kty` and `kid`. A key with a
    /// private member, a key id given twice or a member of the wrong type refuses the whole set.
    public static func keys(_ body: [UInt8], from source: String) throws -> [Key] {
        guard body.count <= maxKeySetBytes else {
            throw VaultError("issuer.response", "the key set from \(source) is larger than \(maxKeySetBytes >> 10) KiB", context: ["url": source])
        }
        guard let m = try? JSONScan.members(body), let list = m["keys"], body[list.lowerBound] == UInt8(ascii: "[") else {
            throw VaultError("issuer.response", "the key set from \(source) is not a JSON object with a keys array", context: ["url": source])
        }
        var out: [Key] = []
        var seen = Set<String>()
        try JSONScan.elements(body, in: list) { r in
            guard let k = try? JSONScan.members(body, in: r) else {
                throw VaultError("issuer.response", "key \(out.count + 1) of the key set from \(source) is not a JSON object", context: ["url": source])
            }
            if let secret = k.keys.first(where: { privateMembers.contains($0) }) {
                throw VaultError("issuer.response", "key \(out.count + 1) of the key set from \(source) carries the private member '\(secret)': nothing of it is published", context: ["url": source, "case": "private"])
            }
            func text(_ name: String, limit: Int) throws -> String? {
                guard let v = k[name] else { return nil }
                guard let s = JSONScan.string(body, v), !s.isEmpty, s.utf8.count <= limit, s.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f }) else {
                    throw VaultError("issuer.response", "key \(out.count + 1) of the key set from \(source) has a \(name) that is not a printable string of at most \(limit) characters", context: ["url": source])
                }
                return s
            }
            guard let kid = try text("kid", limit: 256), let kty = try text("kty", limit: 16) else {
                throw VaultError("issuer.response", "key \(out.count + 1) of the key set from \(source) has no kid or kty", context: ["url": source])
            }
            guard seen.insert(kid).inserted else {
                throw VaultError("issuer.response", "the key set from \(source) names key id \(kid) twice", context: ["url": source])
            }
            let key = Key(kid: kid, kty: kty, alg: try text("alg", limit: 16), use: try text("use", limit: 16),
                          n: try text("n", limit: 4096), e: try text("e", limit: 16))
            if let n = key.n, !isBase64URL(n) { throw VaultError("issuer.response", "the modulus of key \(kid) from \(source) is not base64url", context: ["url": source]) }
            if let e = key.e, !isBase64URL(e) { throw VaultError("issuer.response", "the exponent of key \(kid) from \(source) is not base64url", context: ["url": source]) }
            out.append(key)
        }
        return out
    }

    static func isBase64URL(_ s: String) -> Bool {
        s.utf8.allSatisfy { ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d || $0 == 0x5f }
    }

    // MARK: Writing

    /// The discovery document to host: the minimal one Entra reads (as azure-workload-identity publishes it), RS256 only.
    public static func discoveryDocument(issuer: String, jwksURI: String) -> [UInt8] {
        var out = Array("{\n  \"issuer\": ".utf8) + JSONWriter.quoted(issuer)
        out += Array(",\n  \"jwks_uri\": ".utf8) + JSONWriter.quoted(jwksURI)
        out += Array((",\n  \"response_types_supported\": [\"id_token\"],\n  \"subject_types_supported\": [\"public\"],\n" +
                      "  \"id_token_signing_alg_values_supported\": [\"RS256\"]\n}\n").utf8)
        return out
    }

    /// The key set to host: each key rebuilt from its public RSA members, with `use` `sig` and `alg` `RS256`.
    public static func keySetDocument(_ keys: [Key]) -> [UInt8] {
        var out = Array("{\n  \"keys\": [".utf8)
        for (i, k) in keys.enumerated() {
            out += Array((i == 0 ? "\n    " : ",\n    ").utf8)
            out += Array("{\"kty\": \"RSA\", \"use\": \"sig\", \"alg\": \"RS256\", \"kid\": ".utf8) + JSONWriter.quoted(k.kid)
            out += Array(", \"n\": ".utf8) + JSONWriter.quoted(k.n ?? "") + Array(", \"e\": ".utf8) + JSONWriter.quoted(k.e ?? "") + [UInt8(ascii: "}")]
        }
        out += Array((keys.isEmpty ? "]\n}\n" : "\n  ]\n}\n").utf8)
        return out
    }

    /// What `publish` writes: the two documents, the keys kept and those left out (with why).
    public struct Publication: Sendable {
        public var issuer: String
        public var jwksURI: String
        public var discovery: [UInt8]
        public var keySet: [UInt8]
        public var kept: [Key]
        public var skipped: [(key: Key, why: String)]
    }

    /// Builds the documents to host from the engine's: the engine's issuer (the tokens' `iss`), `jwksURI` (default
    /// ISSUER/.well-known/keys), its RS256 signing keys. Keys of other algorithms (the engine publishes every named
    /// key in one set) and keys whose `use` is not `sig` are left out; no RS256 key at all, or more than Entra reads,
    /// is refused.
    public static func publication(discovery d: Discovery, keys: [Key], jwksURI: String?) throws -> Publication {
        guard d.issuer.hasPrefix("https://") else {
            throw VaultError("issuer.url", "the engine's issuer \(d.issuer) is not an https URL: Entra fetches the issuer's documents over HTTPS only", context: ["url": d.issuer, "case": "engine"])
        }
        let uri = jwksURI ?? d.issuer + "/.well-known/keys"
        guard uri.hasPrefix("https://"), (try? EndpointURL.parse(uri)) != nil else {
            throw VaultError("issuer.url", "the key set URL \(uri) is not an https URL", context: ["url": uri])
        }
        var kept: [Key] = []
        var skipped: [(Key, String)] = []
        for k in keys {
            if !k.isRS256 { skipped.append((k, "\(k.kind), not an RSA RS256 key")) }
            else if let use = k.use, use != "sig" { skipped.append((k, "its use is \(use), not sig")) }
            else { kept.append(k) }
        }
        guard !kept.isEmpty else {
            throw VaultError("issuer.keys", "the engine publishes no RS256 signing key (\(keys.count) key(s) of other kinds)", context: ["case": "none"])
        }
        guard kept.count <= entraKeyLimit else {
            throw VaultError("issuer.keys", "the engine publishes \(kept.count) RS256 keys; Entra reads only the first \(entraKeyLimit)", context: ["case": "too_many"])
        }
        return Publication(issuer: d.issuer, jwksURI: uri, discovery: discoveryDocument(issuer: d.issuer, jwksURI: uri),
                           keySet: keySetDocument(kept), kept: kept, skipped: skipped)
    }

    // MARK: Checking a hosted copy

    /// One finding of `check`: what was checked, and the error when it failed.
    public struct Finding: Sendable {
        public var checked: String
        public var problem: VaultError?
    }

    /// Checks a hosted discovery document and key set against what Entra needs: the issuer is exactly `url`, RS256 is
    /// offered, every key is RSA RS256 with `use` `sig` or none, at most 100 keys; with `live` (the engine's own
    /// set), every live RS256 key id is in the hosted set (a mirror left behind by a key rotation is the classic
    /// AADSTS7000272), and the engine's issuer is `url` too.
    public static func check(url: String, discovery d: Discovery, keys: [Key], notJSON: [String] = [],
                             live: (issuer: String, keys: [Key])?) -> [Finding] {
        var out: [Finding] = []
        out.append(Finding(checked: "both documents are served as application/json", problem: notJSON.isEmpty ? nil :
            VaultError("issuer.mismatch", "served without a JSON Content-Type: \(notJSON.joined(separator: ", "))", context: ["url": url, "case": "content_type"])))
        out.append(Finding(checked: "issuer is \(url)", problem: d.issuer == url ? nil :
            VaultError("issuer.mismatch", "the hosted discovery document names the issuer \(d.issuer), not \(url): Entra compares them exactly", context: ["url": url, "case": "issuer"])))
        let algs = d.algorithms ?? []
        out.append(Finding(checked: "RS256 is among the signing algorithms offered", problem: algs.contains("RS256") ? nil :
            VaultError("issuer.mismatch", "the hosted discovery document does not offer RS256 (id_token_signing_alg_values_supported: \(algs.joined(separator: ", ")))", context: ["url": url, "case": "algorithm"])))
        let bad = keys.filter { !$0.isRS256 || ($0.use != nil && $0.use != "sig") }
        out.append(Finding(checked: "\(keys.count) key(s), each RSA RS256 with use sig (or no use)", problem:
            keys.isEmpty ? VaultError("issuer.mismatch", "the hosted key set at \(d.jwksURI) holds no key", context: ["url": d.jwksURI, "case": "keys"]) :
            bad.isEmpty ? nil : VaultError("issuer.mismatch", "the hosted key set has keys Entra cannot verify an RS256 token with: \(bad.map { "\($0.kid) (\($0.kind), use \($0.use ?? "none"))" }.joined(separator: ", "))", context: ["url": d.jwksURI, "case": "keys"])))
        out.append(Finding(checked: "at most \(entraKeyLimit) keys (Entra reads only the first \(entraKeyLimit))", problem: keys.count <= entraKeyLimit ? nil :
            VaultError("issuer.mismatch", "the hosted key set has \(keys.count) keys; Entra reads only the first \(entraKeyLimit)", context: ["url": d.jwksURI, "case": "keys"])))
        if let live {
            out.append(Finding(checked: "the engine's issuer is \(url)", problem: live.issuer == url ? nil :
                VaultError("issuer.mismatch", "the engine names the issuer \(live.issuer), not \(url): its tokens' iss will not match the federated credential", context: ["url": url, "case": "engine"])))
            let hosted = Set(keys.map(\.kid))
            let liveKeys = live.keys.filter { $0.isRS256 && ($0.use == nil || $0.use == "sig") }
            let missing = liveKeys.filter { !hosted.contains($0.kid) }.map(\.kid)
            out.append(Finding(checked: "every live RS256 key of the engine (\(liveKeys.count)) is in the hosted key set", problem: missing.isEmpty ? nil :
                VaultError("issuer.stale", "the hosted key set lacks \(missing.count) of the engine's live key(s): \(missing.joined(separator: ", ")); a token signed with one fails at Entra (AADSTS7000272), and OpenBao's next key signs from its next rotation on", context: ["url": d.jwksURI, "kids": missing.joined(separator: ",")])))
        }
        return out
    }

    // MARK: Fetching

    /// GETs a public document over HTTPS: status 200 and at most `limit` bytes, else an error naming the URL. Also
    /// hands back the `Content-Type` (Entra is reported to refuse a document not served as JSON).
    public static func fetch(_ url: String, transport: any HTTPTransport, limit: Int) throws -> (body: [UInt8], contentType: String) {
        let response = try transport.send(HTTPRequest(method: "GET", url: url, headers: [("Accept", "application/json")]))
        guard response.status == 200 else {
            throw VaultError("issuer.fetch", "\(url) answered HTTP \(response.status)", context: ["url": url, "status": String(response.status)])
        }
        guard response.body.count <= limit else {
            throw VaultError("issuer.response", "\(url) answered more than \(limit >> 10) KiB", context: ["url": url])
        }
        return (response.body, String((response.header("Content-Type") ?? "").prefix(100)))
    }

    /// A hosted issuer's two documents: URL/.well-known/openid-configuration (URL without a trailing `/`, as Entra reads it), then its jwks_uri (https only); and
    /// the documents whose `Content-Type` is not `application/json`.
    public static func hosted(_ url: String, transport: any HTTPTransport) throws -> (Discovery, [Key], notJSON: [String]) {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        let discoveryURL = base + "/.well-known/openid-configuration"
        let (dBody, dType) = try fetch(discoveryURL, transport: transport, limit: maxDiscoveryBytes)
        let d = try discovery(dBody, from: discoveryURL)
        guard d.jwksURI.hasPrefix("https://"), (try? EndpointURL.parse(d.jwksURI)) != nil else {
            throw VaultError("issuer.url", "the hosted discovery document's jwks_uri \(d.jwksURI) is not an https URL", context: ["url": d.jwksURI, "case": "jwks"])
        }
        let (kBody, kType) = try fetch(d.jwksURI, transport: transport, limit: maxKeySetBytes)
        let notJSON = [(discoveryURL, dType), (d.jwksURI, kType)].filter { !isJSON($0.1) }.map { "\($0.0) (\($0.1.isEmpty ? "no Content-Type" : $0.1))" }
        return (d, try keys(kBody, from: d.jwksURI), notJSON)
    }

    static func isJSON(_ contentType: String) -> Bool {
        let media = contentType.split(separator: ";").first.map { String($0.filter { $0 != " " && $0 != "\t" }).lowercased() } ?? ""
        return media == "application/json" || (media.hasPrefix("application/") && media.hasSuffix("+json"))
    }
}

extension KVClient {
    /// The engine's own issuer documents (unauthenticated; the configured addresses tried in order like every call).
    public func issuerDocuments() throws -> (OIDCIssuer.Discovery, [OIDCIssuer.Key]) {
        func get(_ path: String, limit: Int) throws -> [UInt8] {
            let response = try send("GET", path, body: nil, authenticated: false)
            guard response.status == 200 else {
                throw VaultError("issuer.fetch", "the backend answered HTTP \(response.status) for \(path)", context: ["url": path, "status": String(response.status), "case": "engine"])
            }
            guard response.body.count <= limit else {
                throw VaultError("issuer.response", "the backend's answer for \(path) is larger than \(limit >> 10) KiB", context: ["url": path])
            }
            return response.body
        }
        let d = try OIDCIssuer.discovery(try get(OIDCIssuer.discoveryPath, limit: OIDCIssuer.maxDiscoveryBytes), from: "the backend")
        return (d, try OIDCIssuer.keys(try get(OIDCIssuer.keysPath, limit: OIDCIssuer.maxKeySetBytes), from: "the backend"))
    }
}
