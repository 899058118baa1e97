import FoundationEssentials
import VaultCrypto
import VaultErrors
import VaultPKI

/// How an app proves itself at the token endpoint: a client secret (`client_secret_post`) or a certificate
/// (`private_key_jwt`, docs/protocols.md, "Entra: certificate assertions"). Everything downstream of the token request
/// is the same.
public enum AppCredential: Sendable {
    case secret(SecretBytes)
    case certificate(StoredCertificate)
    /// The client secret lives in the named fleet backend: read from it on a cache miss only, and turned into
    /// `.secret` before anything is sent.
    case backend(String)
    /// A federated credential: an external issuer's token, read from its source on a cache miss only, and turned
    /// into `.assertion` before anything is sent.
    case federated(FederatedSource)
    /// A federated credential's token as read for one fetch (never stored, never cached).
    case assertion(ExternalAssertion)

    public var kind: String {
        switch self {
        case .secret: return "secret"
        case .certificate: return "certificate"
        case .backend: return "backend"
        case .federated, .assertion: return "federated"
        }
    }

    /// The form body in MSAL's field order, in secret memory. A certificate is parsed and used only here, on a
    /// fetch: a cache hit never touches RSA or X.509.
    public func formBody(clientID: String, scope: String, tokenEndpoint: String, appName: String, now: Date) throws -> SecretBytes {
        switch self {
        case .backend(let name):
            throw VaultError("internal", "the secret of app '\(appName)' in backend '\(name)' was not read before the token request")
        case .federated(let source):
            throw VaultError("internal", "the federated token of app '\(appName)' (\(source)) was not read before the token request")
        case .assertion(let external):
            return external.formBody(clientID: clientID, scope: scope)
        case .secret(let secret):
            return ClientCredentials.formBody(clientID: clientID, secret: secret, scope: scope)
        case .certificate(let stored):
            if let notAfter = stored.notAfter, notAfter <= now {
                throw VaultError("cert.expired", "the certificate of app '\(appName)' expired on \(notAfter.formatted(.iso8601)); Entra ID will not accept it", context: ["case": "stored", "app": appName])
            }
            let assertion = try JOSE.clientAssertion(try stored.credential(), clientID: clientID, audience: tokenEndpoint,
                                                     algorithm: stored.algorithm, sendX5C: stored.sendX5C, now: now)
            let head = "client_id=\(FormEncoding.encode(clientID))&grant_type=client_credentials&client_assertion="
            let tail = "&client_info=1&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&scope=\(FormEncoding.encode(scope))"
            return SecretBytes.concat([FormEncoding.bytes(head), FormEncoding.encode(assertion), FormEncoding.bytes(tail)])
        }
    }

    /// Whether two credentials are the same key material (a re-read of the vault found nothing new).
    public func sameMaterial(as other: AppCredential) -> Bool {
        switch (self, other) {
        case (.secret(let a), .secret(let b)): return a.constantTimeEquals(b)
        case (.certificate(let a), .certificate(let b)): return a.privateKey.constantTimeEquals(b.privateKey)
        default: return false
        }
    }
}

/// A certificate credential as stored: the certificate (base64 DER, public), its chain, the private key (secret) and
/// how assertions are made. Parsed into a `CertificateCredential` only when a token is fetched.
public struct StoredCertificate: Sendable {
    public var certificateBase64: String
    public var chainBase64: [String]
    public var privateKey: SecretBytes
    public var algorithm: JOSE.Algorithm
    public var sendX5C: Bool
    public var notAfter: Date?

    public init(certificateBase64: String, chainBase64: [String] = [], privateKey: SecretBytes, algorithm: JOSE.Algorithm = .ps256,
                sendX5C: Bool = false, notAfter: Date? = nil) {
        self.certificateBase64 = certificateBase64
        self.chainBase64 = chainBase64
        self.privateKey = privateKey
        self.algorithm = algorithm
        self.sendX5C = sendX5C
        self.notAfter = notAfter
    }

    public func credential() throws -> CertificateCredential {
        func der(_ b64: String) throws -> [UInt8] {
            guard let d = Data(base64Encoded: b64) else {
                throw VaultError("cert.stored", "the stored certificate is damaged (not base64)")
            }
            return Array(d)
        }
        return try CertificateCredential(certificate: try CertificateInfo(der: try der(certificateBase64)),
                                         chain: try chainBase64.map(der), privateKey: privateKey)
    }
}
