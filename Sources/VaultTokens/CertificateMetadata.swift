import FoundationEssentials
import VaultPKI
import VaultRecords

/// A certificate to store with an app, and how its assertions are made.
public struct CertificateChoice: Sendable {
    public var credential: CertificateCredential
    public var algorithm: JOSE.Algorithm
    public var sendX5C: Bool
    public init(credential: CertificateCredential, algorithm: JOSE.Algorithm = .ps256, sendX5C: Bool = false) {
        self.credential = credential
        self.algorithm = algorithm
        self.sendX5C = sendX5C
    }
}

/// How a stored app's metadata describes its certificate (add-app and a certificate rotation's commit write it the same way).
public enum CertificateMetadata {
    package static func describe(_ c: CertificateChoice, in meta: inout AppMetadata) {
        let info = c.credential.certificate
        meta.certificate = Data(info.der).base64EncodedString()
        meta.certificateChain = c.credential.chain.isEmpty ? nil : c.credential.chain.map { Data($0).base64EncodedString() }
        meta.certificateSHA1 = info.sha1Hex
        meta.certificateSHA256 = info.sha256Hex
        meta.certificateExpires = info.notAfter
        meta.certificateSubject = info.subject
        meta.certificateKeyID = nil
        meta.assertionAlgorithm = c.algorithm == .rs256 ? "RS256" : nil
        meta.sendX5C = c.sendX5C ? true : nil
    }

    /// The app no longer has a certificate (a move to a federated credential removed it).
    package static func forget(in meta: inout AppMetadata) {
        copyCertificate(from: AppMetadata(name: "", tenant: "", clientID: "", cloud: "", authority: nil, secretHint: "", added: .distantPast), to: &meta)
    }

    package static func copyCertificate(from old: AppMetadata, to meta: inout AppMetadata) {
        meta.certificate = old.certificate
        meta.certificateChain = old.certificateChain
        meta.certificateSHA1 = old.certificateSHA1
        meta.certificateSHA256 = old.certificateSHA256
        meta.certificateExpires = old.certificateExpires
        meta.certificateSubject = old.certificateSubject
        meta.certificateKeyID = old.certificateKeyID
        meta.assertionAlgorithm = old.assertionAlgorithm
        meta.sendX5C = old.sendX5C
    }
}
