import Crypto
import Foundation

/// An application or service principal of the synthetic tenant, with each property already serialised as JSON: a page
/// is a concatenation of fragments, so 10,000 objects page as fast as the client can read them.
public struct DirectoryObject: Sendable {
    public var id: String
    public var appId: String
    public var displayName: String
    /// Property name → JSON value, in Graph's serialisation order.
    public var properties: [(String, String)]
    /// Applications only: the `federatedIdentityCredentials` collection as JSON (`[]` when none).
    public var federatedJSON: String?

    public init(id: String, appId: String, displayName: String, properties: [(String, String)], federatedJSON: String?) {
        self.id = id; self.appId = appId; self.displayName = displayName; self.properties = properties; self.federatedJSON = federatedJSON
    }

    public func value(_ name: String) -> String? { properties.first { $0.0 == name }?.1 }
}

/// The credential cases of the synthetic tenant (docs/emulator.md, "Applications at scale"). Record `i` has case
/// `i % 10`; every date is an offset in days from the anchor (the emulator's start), so a report run at any time in
/// the emulator's first days sees the same findings.
public enum SyntheticApplications {
    public static let kinds = ["healthy", "expired", "expiring", "long-lived", "vault-leftover", "certificates",
                               "secret-and-certificate", "secret-and-fic", "mutable-fic", "several-secrets"]

    struct Password { var name: String; var start: Int; var end: Int }
    struct Key { var name: String; var start: Int; var end: Int }
    struct FIC { var name: String; var issuer: String; var subject: String }

    static let github = "https://token.actions.githubusercontent.com"

    /// The application's credentials for case `k` (record `i`, for unique subjects).
    static func application(_ k: Int, _ i: Int, vaultDates: (String, String)) -> ([Password], [Key], [FIC]) {
        switch k {
        case 0: return ([Password(name: "healthy", start: -30, end: 60)], [], [])
        case 1: return ([Password(name: "expired", start: -100, end: -10), Password(name: "current", start: -30, end: 60)], [], [])
        case 2: return ([Password(name: "expiring", start: -80, end: 10)], [], [])
        case 3: return ([Password(name: "long-lived", start: -10, end: 720)], [], [])
        case 4: return ([Password(name: "vault \(vaultDates.0) %KEY8%", start: -20, end: 160),
                         Password(name: "nightly (vault %KEY8%)", start: -5, end: 175),
                         Password(name: "old", start: -190, end: -20)], [], [])
        case 5: return ([], [Key(name: "cert-a", start: -30, end: 120), Key(name: "cert-b", start: -1, end: 149)], [])
        case 6: return ([Password(name: "secret", start: -30, end: 60)],
                        [Key(name: "cert-a", start: -30, end: 120), Key(name: "cert-b", start: -10, end: 140)], [])
        case 7: return ([Password(name: "secret", start: -30, end: 60)], [], [
            FIC(name: "github-main", issuer: github, subject: "repo:contoso@5544123/payments-\(i)@\(821_000_000 + i):ref:refs/heads/main"),
            FIC(name: "aks", issuer: "https://westeurope.oic.prod-aks.azure.com/11111111-1111-1111-1111-111111111111/aaaa/",
                subject: "system:serviceaccount:payments:api-\(i)"),
            FIC(name: "openbao", issuer: "https://bao.contoso.example/v1/identity/oidc", subject: uuid(SHA256.hash(data: Data("fic:\(i)".utf8)))),
        ])
        case 8: return ([], [], [
            FIC(name: "github-by-name", issuer: github, subject: "repo:contoso/web-\(i):ref:refs/heads/main"),
            FIC(name: "github-by-id", issuer: github, subject: "repo:contoso@5544123/web-\(i)@\(900_000_000 + i):environment:production"),
        ])
        default: return ([Password(name: "a", start: -30, end: 60), Password(name: "b", start: -20, end: 70), Password(name: "c", start: -10, end: 80)],
                         [Key(name: "retired", start: -150, end: -5)], [])
        }
    }

    /// The service principal's own credentials for case `k`.
    static func servicePrincipal(_ k: Int) -> ([Password], [Key]) {
        switch k {
        case 0: return ([], [Key(name: "saml-signing", start: -30, end: 120)])
        case 1: return ([], [Key(name: "saml-old", start: -200, end: -50)])
        case 2: return ([Password(name: "sp-secret", start: -30, end: 60)], [])
        case 3: return ([Password(name: "sp-long", start: -10, end: 720)], [])
        case 5: return ([], [Key(name: "sp-cert-a", start: -30, end: 120), Key(name: "sp-cert-b", start: -1, end: 149)])
        case 6: return ([], [Key(name: "sp-expiring", start: -20, end: 20)])
        default: return ([], [])
        }
    }

    /// `count` applications and their service principals, deterministic from `(seed, count, anchor)`.
    public static func generate(seed: String, count: Int, anchor: Date) -> (applications: [DirectoryObject], servicePrincipals: [DirectoryObject]) {
        var apps: [DirectoryObject] = []
        var sps: [DirectoryObject] = []
        apps.reserveCapacity(count)
        sps.reserveCapacity(count)
        let day = 86_400.0
        func date(_ d: Int) -> String { GraphTime.seconds(anchor.addingTimeInterval(Double(d) * day)) }
        let dayFormat = DateFormatter()
        dayFormat.locale = Locale(identifier: "en_US_POSIX")
        dayFormat.timeZone = TimeZone(identifier: "UTC")
        dayFormat.dateFormat = "yyyy-MM-dd"
        let vaultDates = (dayFormat.string(from: anchor.addingTimeInterval(-20 * day)), dayFormat.string(from: anchor.addingTimeInterval(-5 * day)))
        for i in 0..<count {
            let k = i % 10
            func id(_ what: String, _ n: Int = 0) -> String { uuid(SHA256.hash(data: Data("\(seed):app:\(i):\(what):\(n)".utf8))) }
            let name = String(format: "seed-app-%05d-%@", i, kinds[k])
            let appID = id("appId"), objectID = id("id"), spID = id("sp")
            let created = date(-400 + i % 300)
            let (passwords, keys, fics) = application(k, i, vaultDates: vaultDates)
            func passwordsJSON(_ list: [Password], _ tag: String) -> String {
                "[" + list.enumerated().map { n, p in
                    let keyID = id("\(tag)-password", n)
                    let display = p.name.replacingOccurrences(of: "%KEY8%", with: String(keyID.prefix(8)))
                    return "{\"customKeyIdentifier\":null,\"displayName\":\(json(display)),\"endDateTime\":\"\(date(p.end))\",\"hint\":\"\(hint(keyID))\",\"keyId\":\"\(keyID)\",\"secretText\":null,\"startDateTime\":\"\(date(p.start))\"}"
                }.joined(separator: ",") + "]"
            }
            func keysJSON(_ list: [Key], _ tag: String) -> String {
                "[" + list.enumerated().map { n, c in
                    let keyID = id("\(tag)-key", n)
                    let thumb = Array(SHA256.hash(data: Data(keyID.utf8))).prefix(20).map { String(format: "%02X", $0) }.joined()
                    return "{\"customKeyIdentifier\":\"\(thumb)\",\"displayName\":\(json(c.name)),\"endDateTime\":\"\(date(c.end))\",\"key\":null,\"keyId\":\"\(keyID)\",\"startDateTime\":\"\(date(c.start))\",\"type\":\"AsymmetricX509Cert\",\"usage\":\"Verify\"}"
                }.joined(separator: ",") + "]"
            }
            let ficJSON = "[" + fics.enumerated().map { n, f in
                "{\"audiences\":[\"api://AzureADTokenExchange\"],\"description\":null,\"id\":\"\(id("fic", n))\",\"issuer\":\(json(f.issuer)),\"name\":\(json(f.name)),\"subject\":\(json(f.subject))}"
            }.joined(separator: ",") + "]"
            apps.append(DirectoryObject(id: objectID, appId: appID, displayName: name, properties: [
                ("id", json(objectID)), ("appId", json(appID)), ("createdDateTime", json(created)), ("deletedDateTime", "null"),
                ("description", "null"), ("displayName", json(name)), ("notes", "null"), ("publisherDomain", "\"contoso.onmicrosoft.com\""),
                ("signInAudience", "\"AzureADMyOrg\""), ("tags", "[]"),
                ("keyCredentials", keysJSON(keys, "app")), ("passwordCredentials", passwordsJSON(passwords, "app")),
            ], federatedJSON: ficJSON))
            let (spPasswords, spKeys) = servicePrincipal(k)
            sps.append(DirectoryObject(id: spID, appId: appID, displayName: name, properties: [
                ("id", json(spID)), ("accountEnabled", "true"), ("appDisplayName", json(name)), ("appId", json(appID)),
                ("appOwnerOrganizationId", "null"), ("deletedDateTime", "null"), ("displayName", json(name)),
                ("servicePrincipalNames", "[" + json(appID) + "]"), ("servicePrincipalType", "\"Application\""), ("tags", "[]"),
                ("keyCredentials", keysJSON(spKeys, "sp")), ("passwordCredentials", passwordsJSON(spPasswords, "sp")),
            ], federatedJSON: nil))
        }
        return (apps, sps)
    }

    static func hint(_ keyID: String) -> String { String(keyID.filter(\.isLetter).prefix(3)) }

    static func uuid(_ digest: SHA256.Digest) -> String { SyntheticUsers.uuid(from: Array(digest)) }

    public static func json(_ s: String) -> String {
        var out = ""
        UserJSON.appendString(s, to: &out)
        return out
    }
}
