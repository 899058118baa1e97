import EmulatorDirectory
import Crypto
import Foundation
import X509
import _CryptoExtras

/// A tenant: its ids, token-signing key and (immutable) users.
final class Tenant: Sendable {
    let id: String
    let domain: String
    let key: SigningKey
    let users: [DirectoryUser]
    let usersByID: [String: Int]
    let usersByUPN: [String: Int]
    /// Each user's JSON with the 11 default properties, serialised once: default pages are concatenations.
    let defaultJSON: [[UInt8]]
    /// The synthetic applications and service principals (`--applications N`), immutable.
    let applications: [DirectoryObject]
    let servicePrincipals: [DirectoryObject]

    init(id: String, domain: String, users: [DirectoryUser], applications: [DirectoryObject] = [], servicePrincipals: [DirectoryObject] = []) throws {
        self.applications = applications
        self.servicePrincipals = servicePrincipals
        self.id = id.lowercased()
        self.domain = domain.lowercased()
        key = try SigningKey()
        self.users = users
        var byID: [String: Int] = [:]
        var byUPN: [String: Int] = [:]
        for (i, u) in users.enumerated() {
            byID[u.id.lowercased()] = i
            byUPN[u.userPrincipalName.lowercased()] = i
        }
        usersByID = byID
        usersByUPN = byUPN
        defaultJSON = users.map { u in
            var s = ""
            UserJSON.append(u, properties: UserProperty.defaults, to: &s)
            return Array(s.utf8)
        }
    }

    func matches(_ segment: String) -> Bool { segment.lowercased() == id || segment.lowercased() == domain }
    var v1Issuer: String { "https://sts.windows.net/\(id)/" }
}

/// A password credential held by an app registration.
struct PasswordCredential: Sendable {
    var keyID: String
    var secret: String
    var hint: String
    var displayName: String?
    var start: Date
    var end: Date
    var startText: String
    var endText: String
    /// When the token endpoint starts accepting it (creation + propagation delay).
    var usableFrom: Date
    /// When Graph's reads (and removePassword) start seeing it (creation + replication lag).
    var visibleFrom: Date = .distantPast

    func json() -> [String: Any] {
        ["customKeyIdentifier": NSNull(), "displayName": displayName.map { $0 as Any } ?? NSNull(), "endDateTime": endText, "hint": hint,
         "keyId": keyID, "secretText": NSNull(), "startDateTime": startText]
    }
}

/// A certificate credential: thumbprints and public key for verifying client assertions.
struct CertificateCredential: Sendable {
    var keyID: String
    var sha1: String
    var sha256: String
    var publicKey: _RSA.Signing.PublicKey
    var der: Data
    /// The keyCredential's validity (the certificate's), and when the token endpoint first knows it (propagation).
    var start: Date
    var end: Date
    var usableFrom: Date = .distantPast
    var displayName: String?

    init(pem: String, keyID: String) throws {
        try self.init(certificate: try Certificate(pemEncoded: pem), keyID: keyID)
    }

    init(der: [UInt8], keyID: String) throws {
        try self.init(certificate: try Certificate(derEncoded: der), keyID: keyID)
    }

    init(certificate cert: Certificate, keyID: String) throws {
        guard let rsa = _RSA.Signing.PublicKey(cert.publicKey) else {
            throw EmulatorError("certificate for key \(keyID) is not RSA")
        }
        var serializer = DER.Serializer()
        try serializer.serialize(cert)
        der = Data(serializer.serializedBytes)
        self.keyID = keyID
        sha1 = Data(Insecure.SHA1.hash(data: der)).base64URL
        sha256 = Data(SHA256.hash(data: der)).base64URL
        publicKey = rsa
        start = cert.notValidBefore
        end = cert.notValidAfter
    }

    /// Graph's keyCredential shape (the public key itself is not returned on reads).
    func json() -> [String: Any] {
        ["keyId": keyID, "type": "AsymmetricX509Cert", "usage": "Verify", "customKeyIdentifier": Self.hexThumbprint(sha1),
         "displayName": displayName.map { $0 as Any } ?? NSNull(), "startDateTime": GraphTime.seconds(start),
         "endDateTime": GraphTime.seconds(end), "key": NSNull()]
    }

    /// Graph shows `customKeyIdentifier` as the SHA-1 thumbprint in upper-case hex.
    static func hexThumbprint(_ base64URL: String) -> String {
        var b64 = base64URL.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        return (Data(base64Encoded: b64) ?? Data()).map { String(format: "%02X", $0) }.joined()
    }
}

/// An app registration with its service principal.
struct AppRegistration: Sendable {
    var name: String
    var tenantID: String
    var clientID: String
    var objectID: String
    var servicePrincipalID: String
    var displayName: String
    var roles: [String]
    var owners: [String]
    var passwords: [PasswordCredential]
    var certificates: [CertificateCredential]
    var createdText: String
    /// A multi-tenant app's service principals in tenants other than its home: tenant id → object id.
    var foreignServicePrincipals: [String: String] = [:]
    /// Federated identity credentials (at most 20).
    var federated: [FederatedCredential] = []
    /// Removed passwords that lagging reads still show, until the date given.
    var ghosts: [(credential: PasswordCredential, until: Date)] = []

    /// The app's service principal in `tenantID`, if it has one there (its home tenant, or one it was consented in).
    func servicePrincipal(in tenantID: String) -> String? {
        tenantID == self.tenantID ? servicePrincipalID : foreignServicePrincipals[tenantID]
    }

    /// The passwords a (lagging) read shows at `now`.
    func visiblePasswords(at now: Date) -> [PasswordCredential] {
        passwords.filter { $0.visibleFrom <= now } + ghosts.filter { $0.until > now }.map(\.credential)
    }
}

struct EmulatorError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

extension String {
    /// Trims the `=` padding that MSAL leaves on base64url thumbprints.
    var unpadded: String { replacingOccurrences(of: "=", with: "") }
}

enum GUID {
    static func make() -> String { UUID().uuidString.lowercased() }
}

import SwiftASN1
