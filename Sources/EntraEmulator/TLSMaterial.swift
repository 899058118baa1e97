import EmulatorDirectory
import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// A throw-away CA and a server certificate for 127.0.0.1, ::1 and localhost, made at start-up.
struct TLSMaterial {
    let caPEM: String
    let serverCertificatePEM: String
    let serverKeyPEM: String

    static func make(now: Date = Date()) throws -> TLSMaterial {
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName {
            OrganizationName("vault-emulator")
            CommonName("vault-emulator throw-away CA")
        }
        let caSKI = SubjectKeyIdentifier(hash: Certificate.PublicKey(caKey.publicKey))
        let notBefore = now.addingTimeInterval(-3600)
        let notAfter = now.addingTimeInterval(30 * 86400)
        let ca = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(caKey.publicKey),
            notValidBefore: notBefore, notValidAfter: notAfter, issuer: caName, subject: caName,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                caSKI
            },
            issuerPrivateKey: .init(caKey))

        let serverKey = P256.Signing.PrivateKey()
        let serverName = try DistinguishedName { CommonName("127.0.0.1") }
        let server = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(serverKey.publicKey),
            notValidBefore: notBefore, notValidAfter: notAfter, issuer: caName, subject: serverName,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([
                    .dnsName("localhost"),
                    .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
                    .ipAddress(ASN1OctetString(contentBytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])),
                ])
                AuthorityKeyIdentifier(keyIdentifier: caSKI.keyIdentifier)
                SubjectKeyIdentifier(hash: Certificate.PublicKey(serverKey.publicKey))
            },
            issuerPrivateKey: .init(caKey))
        return TLSMaterial(caPEM: try ca.serializeAsPEM().pemString,
                           serverCertificatePEM: try server.serializeAsPEM().pemString,
                           serverKeyPEM: serverKey.pemRepresentation)
    }

    func serverConfiguration() throws -> TLSConfiguration {
        var config = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(serverCertificatePEM.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(serverKeyPEM.utf8), format: .pem)))
        config.applicationProtocols = ["http/1.1"]
        return config
    }
}
