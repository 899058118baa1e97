import FoundationEssentials
import Crypto
import VaultErrors
import _CryptoExtras
import X509
import SwiftASN1
import VaultCrypto

/// The public facts of an X.509 certificate vault shows and sends: thumbprints, validity, subject.
public struct CertificateInfo: Sendable, Equatable {
    /// The certificate, DER.
    public let der: [UInt8]
    /// SHA-1 of the DER, upper-case hex: the "thumbprint" the Entra portal and Graph's `customKeyIdentifier` show.
    public let sha1Hex: String
    /// SHA-256 of the DER, upper-case hex.
    public let sha256Hex: String
    public let notBefore: Date
    public let notAfter: Date
    public let subject: String
    public let keyBits: Int

    /// `x5t` (base64url SHA-1, no padding) and `x5t#S256` (base64url SHA-256) of a JWS header.
    public var x5t: String { JOSE.base64URL(Self.hexBytes(sha1Hex)) }
    public var x5tS256: String { JOSE.base64URL(Self.hexBytes(sha256Hex)) }

    public init(der: [UInt8]) throws {
        let cert: Certificate
        do { cert = try Certificate(derEncoded: der) } catch {
            throw VaultError("cert.invalid", "the certificate could not be read (not DER X.509)")
        }
        guard let rsa = _RSA.Signing.PublicKey(cert.publicKey) else {
            throw VaultError("cert.not_rsa", "the certificate's key is not RSA; Entra ID accepts RSA certificates for app credentials")
        }
        self.der = der
        sha1Hex = Self.hex(Array(Insecure.SHA1.hash(data: der)))
        sha256Hex = Self.hex(Array(SHA256.hash(data: der)))
        notBefore = cert.notValidBefore
        notAfter = cert.notValidAfter
        subject = cert.subject.description
        keyBits = rsa.keySizeInBits
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
    }

    static func hexBytes(_ hex: String) -> [UInt8] {
        let u = Array(hex.utf8)
        func v(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10 }
        return stride(from: 0, to: u.count - 1, by: 2).map { v(u[$0]) << 4 | v(u[$0 + 1]) }
    }
}

/// A certificate credential: the certificate (public) and its RSA private key (DER, PKCS#8 or PKCS#1, in secret
/// memory). Built by import or generation, which check that the key matches the certificate.
public struct CertificateCredential: Sendable {
    public let certificate: CertificateInfo
    /// Further certificates of the chain (issuer first), DER, sent in `x5c` after the leaf when asked for.
    public let chain: [[UInt8]]
    public let privateKey: SecretBytes

    /// Entra ID's floor for RSA app credentials.
    public static let minimumKeyBits = 2048
    public static let maximumKeyBits = 8192

    /// Checks that `privateKey` is an RSA key of an accepted size and belongs to `certificate`.
    public init(certificate: CertificateInfo, chain: [[UInt8]] = [], privateKey: SecretBytes) throws {
        let key = try Self.rsaKey(privateKey)
        try Self.checkSize(key)
        let cert = try Certificate(derEncoded: certificate.der)
        guard cert.publicKey == Certificate.PublicKey(key.publicKey) else {
            throw VaultError("cert.mismatch", "the private key does not belong to the certificate (their public keys differ)")
        }
        self.certificate = certificate
        self.chain = chain
        self.privateKey = privateKey
    }

    static func checkSize(_ key: _RSA.Signing.PrivateKey) throws {
        guard (Self.minimumKeyBits...Self.maximumKeyBits).contains(key.keySizeInBits) else {
            throw VaultError("cert.key_size", "the private key has \(key.keySizeInBits) bits; vault accepts RSA keys of \(Self.minimumKeyBits) to \(Self.maximumKeyBits) bits (Entra ID needs at least 2048)", context: ["case": "input"])
        }
    }

    /// The RSA key, parsed from secret memory. BoringSSL copies the key into its own (unlocked) heap while the
    /// returned value lives; vault keeps it only for the one signature it makes.
    static func rsaKey(_ der: SecretBytes) throws -> _RSA.Signing.PrivateKey {
        do {
            return try der.withUnsafeBytes { try _RSA.Signing.PrivateKey(unsafeDERRepresentation: $0) }
        } catch {
            throw VaultError("cert.key_invalid", "the private key could not be read (not an RSA key in PKCS#8 or PKCS#1 DER)")
        }
    }
}

