import AsyncHTTPClient
import Crypto
import EmulatorDirectory
import Foundation
import NIOCore
import NIOSSL
import _CryptoExtras

/// Why an external issuer's metadata could not be used: Entra answers AADSTS50166 when it cannot get a document and
/// AADSTS90061 when it gets one it cannot use (docs/emulator.md, "The external issuer").
enum IssuerFailure: Error, Sendable {
    case unreachable(String)
    case invalid(String)
}

/// One RSA signing key from an issuer's JWKS.
struct IssuerKey: Sendable {
    var kid: String?
    var key: _RSA.Signing.PublicKey
}

/// Fetches an external OIDC issuer's discovery document and JWKS over HTTPS and keeps them for a short while.
///
/// The issuer is untrusted input: HTTPS only (with the configured CAs), no redirects, no proxy, each document capped in
/// size (64 KiB and 512 KiB) and each fetch in time (5 s to connect, 5 s between reads, 10 s in all). Failures are
/// not cached. Only RSA keys with `use: sig` (or no `use`) and `alg` RS256 (or none) count, and only the first 100 of
/// them, as Entra keeps only the first 100 signing keys it downloads.
actor IssuerMetadata {
    static let maxDiscoveryBytes = 64 << 10
    static let maxKeysBytes = 512 << 10
    static let maxKeys = 100
    static let fetchLimit: Duration = .seconds(10)

    /// One client for the process (never shut down, so never deinitialised while open): redirects refused, responses
    /// not decompressed, no proxy.
    static let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: HTTPClient.Configuration.Timeout(connect: .seconds(5), read: .seconds(5)),
            decompression: .disabled))

    let tls: TLSConfiguration
    private var cache: [String: (keys: [IssuerKey], fetched: Date)] = [:]

    /// `trusted`: the CAs given with `--issuer-ca` (none: the system's roots).
    init(trusted: [NIOSSLCertificate]) {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .fullVerification
        if !trusted.isEmpty { tls.trustRoots = .certificates(trusted) }
        self.tls = tls
    }

    /// Reads `issuer_ca` entries: PEM text, or the path of a PEM file (several certificates each allowed).
    static func certificates(_ entries: [String]) throws -> [NIOSSLCertificate] {
        try entries.flatMap { entry -> [NIOSSLCertificate] in
            let pem: String
            if entry.contains("-----BEGIN") {
                pem = entry
            } else {
                guard let data = FileManager.default.contents(atPath: entry) else { throw EmulatorError("cannot read issuer CA \(entry)") }
                pem = String(decoding: data, as: UTF8.self)
            }
            let certs: [NIOSSLCertificate]
            do { certs = try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)) } catch {
                throw EmulatorError("issuer CA \(entry.contains("-----BEGIN") ? "(PEM text)" : entry) is not PEM: \(error)")
            }
            guard !certs.isEmpty else { throw EmulatorError("issuer CA \(entry) holds no certificate") }
            return certs
        }
    }

    func forget() { cache = [:] }

    /// The issuer's signing keys, from the cache when younger than `cacheSeconds`.
    func keys(issuer: String, cacheSeconds: Double) async throws(IssuerFailure) -> [IssuerKey] {
        let now = Date()
        if cacheSeconds > 0, let hit = cache[issuer], now.timeIntervalSince(hit.fetched) < cacheSeconds { return hit.keys }
        let keys = try await fetch(issuer)
        if cacheSeconds > 0 { cache[issuer] = (keys, now) }
        return keys
    }

    private func fetch(_ issuer: String) async throws(IssuerFailure) -> [IssuerKey] {
        var base = issuer
        while base.hasSuffix("/") { base.removeLast() }
        let discoveryURL = base + "/.well-known/openid-configuration"
        let discovery = try await json(discoveryURL, limit: Self.maxDiscoveryBytes, what: "discovery document")
        // OpenID Connect Discovery 1.0 §4.3: the document's issuer is the one the token names.
        guard discovery["issuer"] as? String == issuer else {
            throw .invalid("the discovery document names issuer '\(discovery["issuer"] as? String ?? "")', not '\(issuer)'")
        }
        guard let jwksURI = discovery["jwks_uri"] as? String, !jwksURI.isEmpty else {
            throw .invalid("the discovery document has no jwks_uri")
        }
        guard URL(string: jwksURI)?.scheme?.lowercased() == "https" else { throw .invalid("jwks_uri \(jwksURI) is not https") }
        let jwks = try await json(jwksURI, limit: Self.maxKeysBytes, what: "JWKS")
        guard let entries = jwks["keys"] as? [[String: Any]] else { throw .invalid("the JWKS has no keys array") }
        var keys: [IssuerKey] = []
        for entry in entries where keys.count < Self.maxKeys {
            guard entry["kty"] as? String == "RSA" else { continue }
            if let use = entry["use"] { guard use as? String == "sig" else { continue } }
            if let alg = entry["alg"] { guard alg as? String == "RS256" else { continue } }
            guard let n = (entry["n"] as? String).flatMap(Data.init(base64URL:)), let e = (entry["e"] as? String).flatMap(Data.init(base64URL:)),
                  let key = try? _RSA.Signing.PublicKey(n: n, e: e) else { continue }
            keys.append(IssuerKey(kid: entry["kid"] as? String, key: key))
        }
        return keys
    }

    /// GETs `url` (HTTPS only) and decodes a JSON object of at most `limit` bytes, within `fetchLimit`.
    private func json(_ url: String, limit: Int, what: String) async throws(IssuerFailure) -> [String: Any] {
        guard let parsed = URL(string: url), parsed.scheme?.lowercased() == "https", parsed.host != nil else {
            throw .unreachable("\(what) URL \(url) is not https")
        }
        var prepared = HTTPClientRequest(url: url)
        prepared.method = .GET
        prepared.headers.add(name: "Accept", value: "application/json")
        prepared.tlsConfiguration = tls
        let request = prepared
        let outcome: Result<(status: UInt, type: String, body: ByteBuffer), IssuerFailure>
        do {
            outcome = try await withThrowingTaskGroup(of: Result<(status: UInt, type: String, body: ByteBuffer), IssuerFailure>?.self) { group in
                group.addTask {
                    let response: HTTPClientResponse
                    do { response = try await Self.client.execute(request, timeout: .seconds(10)) } catch {
                        return .failure(.unreachable("cannot fetch the \(what) at \(url): \(error)"))
                    }
                    guard response.status.code == 200 else {
                        return .failure(.unreachable("the \(what) at \(url) answered HTTP \(response.status.code)"))
                    }
                    if let length = response.headers.first(name: "content-length").flatMap(Int.init), length > limit {
                        return .failure(.invalid("the \(what) at \(url) is larger than \(limit) bytes"))
                    }
                    do {
                        let body = try await response.body.collect(upTo: limit)
                        return .success((response.status.code, response.headers.first(name: "content-type") ?? "", body))
                    } catch is NIOTooManyBytesError {
                        return .failure(.invalid("the \(what) at \(url) is larger than \(limit) bytes"))
                    } catch {
                        return .failure(.unreachable("reading the \(what) at \(url) failed: \(error)"))
                    }
                }
                group.addTask {
                    try await Task.sleep(for: Self.fetchLimit)
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first ?? .failure(.unreachable("the \(what) at \(url) took longer than \(Self.fetchLimit)"))
            }
        } catch {
            throw .unreachable("fetching the \(what) at \(url) was cancelled")
        }
        let fetched = try outcome.get()
        // Entra is reported to refuse documents served without a JSON content type (docs/emulator.md).
        let mediaType = fetched.type.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard mediaType == "application/json" || mediaType.hasSuffix("+json") else {
            throw .invalid("the \(what) at \(url) is served as '\(fetched.type)', not application/json")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(buffer: fetched.body))) as? [String: Any] else {
            throw .invalid("the \(what) at \(url) is not a JSON object")
        }
        return object
    }
}
