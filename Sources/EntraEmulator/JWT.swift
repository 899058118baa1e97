import EmulatorDirectory
import Crypto
import _CryptoExtras
import Foundation

/// Compact JWS tokens signed with swift-crypto's RSA (RS256 to issue; RS256 or PS256 accepted from clients).
enum JWT {
    struct Parsed {
        var header: [String: Any]
        var claims: [String: Any]
        var signingInput: Data
        var signature: Data
    }

    static func sign(header: [String: Any], claims: [String: Any], key: _RSA.Signing.PrivateKey) throws -> String {
        let h = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes]).base64URL
        let c = try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys, .withoutEscapingSlashes]).base64URL
        let input = Data("\(h).\(c)".utf8)
        let sig = try key.signature(for: input, padding: .insecurePKCS1v1_5)
        return "\(h).\(c).\(sig.rawRepresentation.base64URL)"
    }

    static func parse(_ token: String) -> Parsed? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let hd = Data(base64URL: String(parts[0])), let cd = Data(base64URL: String(parts[1])),
              let sd = Data(base64URL: String(parts[2])),
              let header = try? JSONSerialization.jsonObject(with: hd) as? [String: Any],
              let claims = try? JSONSerialization.jsonObject(with: cd) as? [String: Any] else { return nil }
        return Parsed(header: header, claims: claims, signingInput: Data("\(parts[0]).\(parts[1])".utf8), signature: sd)
    }

    /// Verifies RS256 or PS256 (SHA-256, MGF1-SHA-256, 32-byte salt).
    static func verify(_ p: Parsed, key: _RSA.Signing.PublicKey) -> Bool {
        let sig = _RSA.Signing.RSASignature(rawRepresentation: p.signature)
        switch p.header["alg"] as? String {
        case "RS256": return key.isValidSignature(sig, for: p.signingInput, padding: .insecurePKCS1v1_5)
        case "PS256": return key.isValidSignature(sig, for: p.signingInput, padding: .PSS)
        default: return false
        }
    }

    static func number(_ any: Any?) -> Double? {
        if let d = any as? Double { return d }
        if let i = any as? Int { return Double(i) }
        if let n = any as? NSNumber { return n.doubleValue }
        if let s = any as? String { return Double(s) }
        return nil
    }
}

/// A tenant's token-signing key and its JWKS entry.
struct SigningKey: Sendable {
    let privateKey: _RSA.Signing.PrivateKey
    let kid: String

    init() throws {
        privateKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        kid = Data(SHA256.hash(data: privateKey.publicKey.derRepresentation)).base64URL.prefix(27).description
    }

    func jwk(issuer: String) throws -> [String: Any] {
        let prim = try privateKey.publicKey.getKeyPrimitives()
        return ["kty": "RSA", "use": "sig", "kid": kid, "x5t": kid, "n": prim.modulus.base64URL,
                "e": prim.publicExponent.base64URL, "issuer": issuer]
    }
}
