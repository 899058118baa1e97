import FoundationEssentials
import VaultCrypto
import VaultErrors
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

    /// Reads item `index` of `page`. The page was validated whole when it arrived, so its items are split without
    /// scanning their grammar again and without copying them out.
    public static func holder(_ type: CredentialHolder.ObjectType, page: GraphPage, item index: Int) throws -> CredentialHolder {
        try page.body.withUnsafeBufferPointer { b in try holder(type, b, page.items[index]) }
    }

    static func holder(_ type: CredentialHolder.ObjectType, _ b: UnsafeBufferPointer<UInt8>, _ item: Range<Int>) throws -> CredentialHolder {
        func s(_ r: Range<Int>?) -> String? { r.flatMap { JSONScan.string(b, $0) } }
        var id: Range<Int>?, appID: Range<Int>?, name: Range<Int>?
        var lists: [(ListedCredential.Kind, Range<Int>)] = []
        JSONValid.forEachMember(b, in: item) { n, v in
            if n.is("id") { id = v } else if n.is("appId") { appID = v } else if n.is("displayName") { name = v }
            else if n.is("passwordCredentials") { lists.append((.password, v)) }
            else if n.is("keyCredentials") { lists.append((.certificate, v)) }
            else if n.is("federatedIdentityCredentials") { lists.append((.federated, v)) }
        }
        guard let objectID = s(id) else { throw VaultError("graph.response", "a \(type.rawValue) without id in Graph's page") }
        var holder = CredentialHolder(objectType: type, id: objectID.lowercased(), appID: (s(appID) ?? "").lowercased(),
                                      displayName: s(name) ?? "", credentials: [])
        for (kind, list) in lists.sorted(by: { $0.0.order < $1.0.order }) where b[list.lowerBound] == UInt8(ascii: "[") {
            for entry in JSONValid.elements(b, in: list) {
                guard b[entry.lowerBound] == UInt8(ascii: "{") else {
                    throw VaultError("graph.response", "a malformed \(kind.listName) entry in Graph's page")
                }
                let wanted = kind.members
                var f = [Range<Int>?](repeating: nil, count: wanted.count)
                JSONValid.forEachMember(b, in: entry) { n, v in
                    if let k = wanted.firstIndex(where: { n.is($0) }) { f[k] = v }
                }
                if let c = credential(kind, f, s) { holder.credentials.append(c) }
            }
        }
        return holder
    }

    /// One entry of a kind's list, from its members in the order `Kind.members` names them.
    static func credential(_ kind: ListedCredential.Kind, _ f: [Range<Int>?], _ s: (Range<Int>?) -> String?) -> ListedCredential? {
        switch kind {
        case .password:
            guard let keyID = s(f[0]) else { return nil }
            return ListedCredential(kind: .password, keyID: keyID.lowercased(), displayName: s(f[1]), hint: s(f[2]),
                                    start: s(f[3]).flatMap(GraphTimestamps.parse), end: s(f[4]).flatMap(GraphTimestamps.parse))
        case .certificate:
            guard let keyID = s(f[0]) else { return nil }
            return ListedCredential(kind: .certificate, keyID: keyID.lowercased(), displayName: s(f[1]),
                                    thumbprint: s(f[2])?.uppercased(),
                                    start: s(f[3]).flatMap(GraphTimestamps.parse), end: s(f[4]).flatMap(GraphTimestamps.parse))
        case .federated:
            guard let fid = s(f[0]) else { return nil }
            return ListedCredential(kind: .federated, keyID: fid.lowercased(), displayName: s(f[1]), issuer: s(f[2]), subject: s(f[3]))
        }
    }
}

extension ListedCredential.Kind {
    /// The order Graph's answer lists them in, kept whatever order the members come in.
    var order: Int { self == .password ? 0 : self == .certificate ? 1 : 2 }
    var listName: String { self == .password ? "passwordCredentials" : self == .certificate ? "keyCredentials" : "federatedIdentityCredentials" }
    /// The members read from one entry of the kind's list, in the order `credential` reads them.
    var members: [StaticString] {
        switch self {
        case .password: return ["keyId", "displayName", "hint", "startDateTime", "endDateTime"]
        case .certificate: return ["keyId", "displayName", "customKeyIdentifier", "startDateTime", "endDateTime"]
        case .federated: return ["id", "name", "issuer", "subject"]
        }
    }
}
