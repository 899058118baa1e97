import FoundationEssentials
import VaultCrypto
import VaultErrors
import VaultJSON

/// An external issuer's token, ready to be sent as a federated app's `client_assertion`. The token stays in secret
/// memory and lives only as long as the fetch that reads it; the claims kept beside it (issuer, subject, audience,
/// expiry) are what the audit log and the messages name — never the token.
public struct ExternalAssertion: Sendable {
    public let token: SecretBytes
    public let issuer: String
    public let subject: String
    public let audience: [String]
    public let expires: Date
    public let notBefore: Date?

    /// Largest token vault reads (a Kubernetes token is about 1 KiB; an identity token with many claims a few KiB).
    public static let maxBytes = 64 << 10

    /// Checks that `bytes` is one compact JWS — three base64url segments, a header with `alg` RS256, a payload with
    /// `iss`, `sub`, `aud` and `exp` — and that it has not expired at `now`. Surrounding whitespace (a trailing
    /// newline in a token file) is dropped. `origin` names where it came from, for the messages. Nothing here
    /// verifies the signature: Entra ID does, against the issuer's published keys.
    public static func parse(_ bytes: SecretBytes, origin: String, now: Date) throws -> ExternalAssertion {
        let token = bytes.withUnsafeBytes { raw -> SecretBytes in
            var start = 0, end = raw.count
            func space(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0a || b == 0x0d }
            while start < end, space(raw[start]) { start += 1 }
            while end > start, space(raw[end - 1]) { end -= 1 }
            return start == 0 && end == raw.count ? bytes : bytes.slice(start..<end)
        }
        guard token.count > 0 else {
            throw VaultError("federated.token", "the token from \(origin) is empty", context: ["case": "empty", "source": origin])
        }
        func malformed(_ why: String) -> VaultError {
            VaultError("federated.token", "the token from \(origin) is not a usable JWT: \(why)", context: ["case": "malformed", "source": origin])
        }
        // The header and the payload are not secret (without the signature they are no credential): decoded as usual.
        let segments: [[UInt8]] = token.withUnsafeBytes { raw in
            raw.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).prefix(4).map { Array($0) }
        }
        guard segments.count == 3, segments.allSatisfy({ !$0.isEmpty && $0.allSatisfy(isBase64URL) }) else {
            throw malformed("not three base64url segments")
        }
        guard let header = object(segments[0]) else { throw malformed("its header is not a JSON object") }
        guard header["alg"]?.string == "RS256" else {
            throw malformed("its header's alg is \(header["alg"]?.string.map { "'\(String($0.prefix(16)))'" } ?? "missing"), and Entra ID accepts RS256")
        }
        // An RS256 signature is as long as the key's modulus (256 bytes for 2048 bits, 384, 512): a token file rewritten
        // in place and read half-way is caught here even when it was cut inside the signature.
        let signatureBytes = segments[2].count * 3 / 4
        guard signatureBytes >= 256, signatureBytes % 128 == 0 else {
            throw malformed("its signature is \(signatureBytes) bytes, not an RS256 signature of a 2048-bit or larger key (a file caught half-written?)")
        }
        guard let claims = object(segments[1]) else { throw malformed("its payload is not a JSON object") }
        guard let iss = claims["iss"]?.string, !iss.isEmpty, let sub = claims["sub"]?.string, !sub.isEmpty else {
            throw malformed("its payload lacks iss or sub")
        }
        let aud: [String]
        switch claims["aud"] {
        case .string(let s)?: aud = [s]
        case .array(let a)?: aud = a.compactMap(\.string)
        default: aud = []
        }
        guard !aud.isEmpty else { throw malformed("its payload lacks aud") }
        guard case .number(let exp)? = claims["exp"], exp.isFinite else { throw malformed("its payload lacks exp") }
        let expires = Date(timeIntervalSince1970: exp)
        var notBefore: Date?
        if case .number(let nbf)? = claims["nbf"], nbf.isFinite { notBefore = Date(timeIntervalSince1970: nbf) }
        let shownIssuer = String(iss.prefix(200)), shownSubject = String(sub.prefix(200))
        guard expires > now else {
            throw VaultError("federated.token", "the token from \(origin) (issuer \(shownIssuer), subject \(shownSubject)) expired at \(expires.formatted(.iso8601)); Entra ID would refuse it",
                             context: ["case": "expired", "source": origin])
        }
        // The claims are kept whole: a federated credential made from them must match them exactly (Entra allows 600
        // characters); only the words above are cut short.
        return ExternalAssertion(token: token, issuer: iss, subject: sub, audience: aud, expires: expires, notBefore: notBefore)
    }

    static func isBase64URL(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x2d || b == 0x5f
    }

    static func object(_ segment: [UInt8]) -> [String: JSONValue]? {
        var b64 = String(decoding: segment.map { $0 == 0x2d ? 0x2b : $0 == 0x5f ? 0x2f : $0 }, as: UTF8.self)
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64), data.count <= maxBytes else { return nil }
        return (try? JSONDecoder().decode(JSONValue.self, from: data))?.object
    }

    /// The federated form body (MSAL's field order for assertions), in secret memory.
    func formBody(clientID: String, scope: String) -> SecretBytes {
        let head = "client_id=\(FormEncoding.encode(clientID))&grant_type=client_credentials&client_assertion="
        let tail = "&client_info=1&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&scope=\(FormEncoding.encode(scope))"
        return SecretBytes.concat([FormEncoding.bytes(head), FormEncoding.encode(token), FormEncoding.bytes(tail)])
    }
}
