import FoundationEssentials
import VaultCrypto
import VaultJSON

/// One credential of an application or service principal as Graph lists it. Secrets are never returned on reads;
/// nothing here is secret.
public struct ListedCredential: Sendable, Equatable {
    public enum Kind: String, Sendable { case password, certificate, federated }
    public var kind: Kind
    public var keyID: String
    public var displayName: String?
    public var hint: String?
    /// SHA-1 thumbprint (upper-case hex) of a certificate.
    public var thumbprint: String?
    public var start: Date?
    public var end: Date?
    /// A federated identity credential's issuer and subject.
    public var issuer: String?
    public var subject: String?

    public init(kind: Kind, keyID: String, displayName: String? = nil, hint: String? = nil, thumbprint: String? = nil, start: Date? = nil,
                end: Date? = nil, issuer: String? = nil, subject: String? = nil) {
        self.kind = kind; self.keyID = keyID; self.displayName = displayName; self.hint = hint; self.thumbprint = thumbprint
        self.start = start; self.end = end; self.issuer = issuer; self.subject = subject
    }
}

/// An application or a service principal with its credentials.
public struct CredentialHolder: Sendable, Equatable {
    public enum ObjectType: String, Sendable { case application, servicePrincipal = "service_principal" }
    public var objectType: ObjectType
    public var id: String
    public var appID: String
    public var displayName: String
    public var credentials: [ListedCredential]

    public init(objectType: ObjectType, id: String, appID: String, displayName: String, credentials: [ListedCredential]) {
        self.objectType = objectType; self.id = id; self.appID = appID; self.displayName = displayName; self.credentials = credentials
    }
}

/// The tenant-wide credential listing: `/applications` (with `$expand=federatedIdentityCredentials`) and
/// `/servicePrincipals`, `$select` of the credential properties, 999 a page (the most Graph allows).
public enum DirectoryCredentials {
    public static let pageSize = 999

    public static func path(_ type: CredentialHolder.ObjectType) -> String {
        let select = "id,appId,displayName,passwordCredentials,keyCredentials"
        switch type {
        case .application: return "/v1.0/applications?$select=\(select)&$expand=federatedIdentityCredentials&$top=\(pageSize)"
        case .servicePrincipal: return "/v1.0/servicePrincipals?$select=\(select)&$top=\(pageSize)"
        }
    }

    /// Reads one item of a page.
    public static func holder(_ type: CredentialHolder.ObjectType, _ item: ArraySlice<UInt8>) throws -> CredentialHolder {
        let bytes = Array(item)
        let m: [String: Range<Int>]
        do { m = try JSONScan.members(bytes) } catch {
            throw VaultError("graph.response", "an item of Graph's \(type.rawValue) page is not a JSON object", exit: .dataError)
        }
        func s(_ k: String) -> String? { m[k].flatMap { JSONScan.string(bytes, $0) } }
        guard let id = s("id") else { throw VaultError("graph.response", "a \(type.rawValue) without id in Graph's page", exit: .dataError) }
        var holder = CredentialHolder(objectType: type, id: id.lowercased(), appID: (s("appId") ?? "").lowercased(),
                                      displayName: s("displayName") ?? "", credentials: [])
        func each(_ key: String, _ body: ([UInt8], [String: Range<Int>]) throws -> ListedCredential?) throws {
            guard let list = m[key], bytes[list.lowerBound] == UInt8(ascii: "[") else { return }
            try JSONScan.elements(bytes, in: list) { r in
                let b = Array(bytes[r])
                guard let cm = try? JSONScan.members(b) else { throw VaultError("graph.response", "a malformed \(key) entry in Graph's page", exit: .dataError) }
                if let c = try body(b, cm) { holder.credentials.append(c) }
            }
        }
        func str(_ b: [UInt8], _ cm: [String: Range<Int>], _ k: String) -> String? { cm[k].flatMap { JSONScan.string(b, $0) } }
        try each("passwordCredentials") { b, cm in
            guard let keyID = str(b, cm, "keyId") else { return nil }
            return ListedCredential(kind: .password, keyID: keyID.lowercased(), displayName: str(b, cm, "displayName"), hint: str(b, cm, "hint"),
                                    start: str(b, cm, "startDateTime").flatMap(GraphTimestamps.parse), end: str(b, cm, "endDateTime").flatMap(GraphTimestamps.parse))
        }
        try each("keyCredentials") { b, cm in
            guard let keyID = str(b, cm, "keyId") else { return nil }
            return ListedCredential(kind: .certificate, keyID: keyID.lowercased(), displayName: str(b, cm, "displayName"),
                                    thumbprint: str(b, cm, "customKeyIdentifier")?.uppercased(),
                                    start: str(b, cm, "startDateTime").flatMap(GraphTimestamps.parse), end: str(b, cm, "endDateTime").flatMap(GraphTimestamps.parse))
        }
        try each("federatedIdentityCredentials") { b, cm in
            guard let fid = str(b, cm, "id") else { return nil }
            return ListedCredential(kind: .federated, keyID: fid.lowercased(), displayName: str(b, cm, "name"),
                                    issuer: str(b, cm, "issuer"), subject: str(b, cm, "subject"))
        }
        return holder
    }
}
