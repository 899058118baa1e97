import FoundationEssentials
import Crypto
import VaultErrors
import _CryptoExtras
import VaultCrypto
import VaultJSON

/// Compact JWS signed with a certificate credential's RSA key (docs/protocols.md, "Entra: certificate assertions" and
/// "Graph: addKey and removeKey").
public enum JOSE {
    public enum Algorithm: String, Sendable, CaseIterable {
        /// RSASSA-PSS, SHA-256, MGF1-SHA-256, 32-byte salt; with `x5t#S256` (Entra's documented default).
        case ps256 = "PS256"
        /// RSASSA-PKCS1-v1_5 with SHA-256; with the SHA-1 `x5t` (older clouds, ADFS).
        case rs256 = "RS256"
    }

    /// The assertion lifetime: Entra accepts 5–10 minutes; MSAL uses 600 s too.
    public static let assertionLifetime = 600

    /// A `client_assertion` for the token endpoint `audience`: `iss` = `sub` = client id, a fresh `jti`, `iat` =
    /// `nbf` = now, `exp` = now + 10 min. Returned in secret memory: it is a bearer credential while it lives.
    public static func clientAssertion(_ credential: CertificateCredential, clientID: String, audience: String,
                                       algorithm: Algorithm = .ps256, sendX5C: Bool = false, now: Date = Date()) throws -> SecretBytes {
        let t = Int64(now.timeIntervalSince1970)
        var header: [(String, JSONText)] = [("alg", .string(algorithm.rawValue)), ("typ", .string("JWT"))]
        switch algorithm {
        case .ps256: header.append(("x5t#S256", .string(credential.certificate.x5tS256)))
        case .rs256: header.append(("x5t", .string(credential.certificate.x5t)))
        }
        if sendX5C {
            let chain = [credential.certificate.der] + credential.chain
            header.append(("x5c", .array(chain.map { .string(Data($0).base64EncodedString()) })))
        }
        let claims: [(String, JSONText)] = [
            ("aud", .string(audience)), ("iss", .string(clientID)), ("sub", .string(clientID)),
            ("jti", .string(UUID().uuidString.lowercased())), ("iat", .int(t)), ("nbf", .int(t)), ("exp", .int(t + Int64(assertionLifetime))),
        ]
        return try sign(header: header, claims: claims, credential: credential, algorithm: algorithm)
    }

    /// The proof-of-possession token of Graph's addKey/removeKey: `aud` = Azure AD Graph's app id, `iss` = the
    /// application's object id, `nbf` = now, `exp` = now + 10 min; RS256 with `x5t`, as Microsoft's samples sign it.
    public static func keyProof(_ credential: CertificateCredential, applicationObjectID: String, now: Date = Date()) throws -> SecretBytes {
        let t = Int64(now.timeIntervalSince1970)
        let header: [(String, JSONText)] = [("alg", .string("RS256")), ("typ", .string("JWT")), ("x5t", .string(credential.certificate.x5t))]
        let claims: [(String, JSONText)] = [
            ("aud", .string("00000002-0000-0000-c000-000000000000")), ("iss", .string(applicationObjectID)),
            ("nbf", .int(t)), ("exp", .int(t + 600)), ("jti", .string(UUID().uuidString.lowercased())),
        ]
        return try sign(header: header, claims: claims, credential: credential, algorithm: .rs256)
    }

    static func sign(header: [(String, JSONText)], claims: [(String, JSONText)], credential: CertificateCredential,
                     algorithm: Algorithm) throws -> SecretBytes {
        let input = base64URL(Array(JSONText.object(header).serialized.utf8)) + "." + base64URL(Array(JSONText.object(claims).serialized.utf8))
        let key = try CertificateCredential.rsaKey(credential.privateKey)
        let digest = SHA256.hash(data: Array(input.utf8))
        let signature: _RSA.Signing.RSASignature
        do {
            signature = try key.signature(for: digest, padding: algorithm == .ps256 ? .PSS : .insecurePKCS1v1_5)
        } catch {
            throw VaultError("cert.sign", "signing the client assertion failed")
        }
        var bytes = Array((input + "." + base64URL(Array(signature.rawRepresentation))).utf8)
        return SecretBytes(consuming: &bytes)
    }

    public static func base64URL(_ bytes: [UInt8]) -> String {
        var s = Data(bytes).base64EncodedString()
        s = String(s.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
        while s.hasSuffix("=") { s.removeLast() }
        return s
    }
}

/// A JSON value written in a fixed member order (JWS headers and claims are small and public).
enum JSONText {
    case string(String), int(Int64), array([JSONText]), object([(String, JSONText)])

    var serialized: String {
        switch self {
        case .int(let v): return String(v)
        case .array(let items): return "[" + items.map(\.serialized).joined(separator: ",") + "]"
        case .object(let members): return "{" + members.map { Self.quote($0.0) + ":" + $0.1.serialized }.joined(separator: ",") + "}"
        case .string(let s): return Self.quote(s)
        }
    }

    static func quote(_ s: String) -> String { JSONWriter.quotedString(s) }
}
