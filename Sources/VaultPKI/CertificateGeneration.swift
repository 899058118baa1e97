import FoundationEssentials
import Crypto
import VaultErrors
import _CryptoExtras
import X509
import SwiftASN1
import VaultCrypto

extension CertificateInfo {
    /// The SubjectPublicKeyInfo of a DER RSA certificate, DER (empty for another key type).
    public static func spki(_ der: [UInt8]) throws -> [UInt8] {
        let cert = try Certificate(derEncoded: der)
        guard let rsa = _RSA.Signing.PublicKey(cert.publicKey) else { return [] }
        return Array(rsa.derRepresentation)
    }

    /// The certificate as PEM text (public: what is uploaded to the portal).
    public var pem: String {
        let b64 = Data(der).base64EncodedString()
        var lines: [Substring] = []
        var rest = Substring(b64)
        while !rest.isEmpty { lines.append(rest.prefix(64)); rest = rest.dropFirst(64) }
        return "-----BEGIN CERTIFICATE-----\n" + lines.joined(separator: "\n") + "\n-----END CERTIFICATE-----\n"
    }
}

/// Key pairs and self-signed certificates made inside vault, for upload to the app registration.
public enum CertificateGeneration {
    public static let allowedKeyBits = [2048, 3072, 4096]

    /// A new RSA key and a self-signed certificate for it (SHA-256 with RSA, digitalSignature key usage, valid from
    /// a minute ago for `validDays`). `subject` is an RFC 4514-style name, e.g. "CN=payroll-daemon, O=Contoso".
    public static func generate(subject: String, validDays: Int, keyBits: Int, now: Date = Date()) throws -> CertificateCredential {
        guard allowedKeyBits.contains(keyBits) else {
            throw VaultError("cert.key_size", "a generated key has 2048, 3072 or 4096 bits (not \(keyBits))")
        }
        guard (1...3650).contains(validDays) else {
            throw VaultError("cert.validity", "a generated certificate is valid for 1 day to 10 years (got \(validDays) days)")
        }
        let name = try distinguishedName(subject)
        let key = try _RSA.Signing.PrivateKey(keySize: .init(bitCount: keyBits))
        let start = now.addingTimeInterval(-60)
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: start, notValidAfter: start.addingTimeInterval(Double(validDays) * 86_400),
            issuer: name, subject: name, signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
            },
            issuerPrivateKey: .init(key))
        var serializer = DER.Serializer()
        try serializer.serialize(cert)
        var keyDER = [UInt8](key.pkcs8DERRepresentation)
        let secretKey = SecretBytes(consuming: &keyDER)
        return try CertificateCredential(certificate: try CertificateInfo(der: serializer.serializedBytes), privateKey: secretKey)
    }

    static func trim(_ s: some StringProtocol) -> String {
        String(s.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }

    /// "CN=x, O=y, OU=z, C=NL, ST=…, L=…": the attributes vault accepts; no escapes (a ',' or '+' inside a value is
    /// refused rather than guessed).
    static func distinguishedName(_ text: String) throws -> DistinguishedName {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { trim($0) }
        guard !parts.isEmpty, !text.contains("\\"), !text.contains("+"), !text.contains("\"") else {
            throw VaultError("cert.subject", "invalid certificate subject '\(text)'", context: ["case": "syntax"])
        }
        var attributes: [RelativeDistinguishedName.Attribute] = []
        for part in parts {
            guard let eq = part.firstIndex(of: "=") else {
                throw VaultError("cert.subject", "invalid certificate subject part '\(part)' (expected KEY=VALUE)")
            }
            let key = trim(part[..<eq]).uppercased()
            let value = trim(part[part.index(after: eq)...])
            guard !value.isEmpty, value.count <= 64, value.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7f }) else {
                throw VaultError("cert.subject", "invalid certificate subject value for \(key) (1 to 64 printable characters)")
            }
            switch key {
            case "CN": attributes.append(.init(type: .RDNAttributeType.commonName, utf8String: value))
            case "O": attributes.append(.init(type: .RDNAttributeType.organizationName, utf8String: value))
            case "OU": attributes.append(.init(type: .RDNAttributeType.organizationalUnitName, utf8String: value))
            case "L": attributes.append(.init(type: .RDNAttributeType.localityName, utf8String: value))
            case "ST": attributes.append(.init(type: .RDNAttributeType.stateOrProvinceName, utf8String: value))
            case "C":
                guard value.count == 2, value.allSatisfy({ $0.isASCII && $0.isLetter }) else {
                    throw VaultError("cert.subject", "C= takes a two-letter country code (got '\(value)')")
                }
                attributes.append(try .init(type: .RDNAttributeType.countryName, printableString: value.uppercased()))
            default:
                throw VaultError("cert.subject", "unsupported certificate subject attribute '\(key)'", context: ["case": "attribute"])
            }
        }
        guard attributes.contains(where: { $0.type == .RDNAttributeType.commonName }) else {
            throw VaultError("cert.subject", "the certificate subject needs a CN= (common name)")
        }
        return DistinguishedName(attributes.map { RelativeDistinguishedName($0) })
    }
}
