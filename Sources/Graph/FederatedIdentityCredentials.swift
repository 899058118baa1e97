import FoundationEssentials
import VaultErrors
import VaultHTTP
import VaultJSON

/// A federated identity credential (FIC) of an application: tokens from `issuer` whose `sub` is `subject` and whose
/// `aud` holds the one audience are accepted as the app's credential (docs/protocols.md; Graph's
/// federatedIdentityCredential resource).
public struct FederatedIdentityCredential: Sendable, Equatable {
    public var id: String
    public var name: String
    public var issuer: String
    public var subject: String
    public var audiences: [String]
    public var description: String?

    public init(id: String = "", name: String, issuer: String, subject: String, audiences: [String], description: String? = nil) {
        self.id = id
        self.name = name
        self.issuer = issuer
        self.subject = subject
        self.audiences = audiences
        self.description = description
    }
}

/// The rules Entra sets for a new FIC (Microsoft Entra, "Important considerations and restrictions for federated
/// identity credentials"), checked before Graph is called so a refusal names the rule.
public enum FederatedCredentialRules {
    public static let maxPerApp = 20
    public static let maxLength = 600

    /// The one audience a FIC may name, by the app's cloud (`global`, `usgov`, `usdod`, `china`).
    public static func audience(cloud: String) -> String {
        switch cloud.lowercased() {
        case "usgov", "usdod": return "api://AzureADTokenExchangeUSGov"
        case "china": return "api://AzureADTokenExchangeChina"
        default: return "api://AzureADTokenExchange"
        }
    }

    /// Why `new` cannot be added to an app that holds `existing`; nil when it can.
    public static func problem(_ new: FederatedIdentityCredential, cloud: String, existing: [FederatedIdentityCredential]) -> VaultError? {
        func refuse(_ rule: String, _ reason: String) -> VaultError {
            VaultError("federated.rule", reason, context: ["case": rule])
        }
        let n = new.name
        let nameOK = (3...120).contains(n.count) && n.unicodeScalars.allSatisfy { $0.isASCII && (($0.properties.isAlphabetic) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_") }
            && n.unicodeScalars.first.map { $0.properties.isAlphabetic || ("0"..."9").contains($0) } == true
        if !nameOK { return refuse("name", "the credential name '\(n.prefix(130))' is not 3–120 letters, digits, '-' or '_' starting with a letter or digit") }
        for (what, value) in [("issuer", new.issuer), ("subject", new.subject)] {
            if value.isEmpty { return refuse("empty", "the \(what) is empty") }
            if value.count > maxLength { return refuse("length", "the \(what) is \(value.count) characters; Entra allows at most \(maxLength)") }
            if value.contains("*") { return refuse("wildcard", "the \(what) contains '*'; Entra matches issuer and subject exactly, without wildcards") }
            if value.first?.isWhitespace == true || value.last?.isWhitespace == true { return refuse("whitespace", "the \(what) has surrounding whitespace") }
        }
        let rest = new.issuer.lowercased().hasPrefix("https://") ? new.issuer.dropFirst(8) : ""
        guard let host = rest.split(separator: "/", omittingEmptySubsequences: false).first, !host.isEmpty,
              !new.issuer.contains(where: { $0.isWhitespace || $0 == "?" || $0 == "#" }) else {
            return refuse("issuer", "the issuer '\(new.issuer.prefix(100))' is not an https URL")
        }
        let expected = audience(cloud: cloud)
        guard new.audiences == [expected] else {
            return refuse("audience", "the audience must be exactly '\(expected)' (one audience, the app's cloud's), not '\(new.audiences.joined(separator: ", ").prefix(100))'")
        }
        if existing.count >= maxPerApp { return refuse("count", "the app already has \(existing.count) federated credentials; Entra allows at most \(maxPerApp)") }
        if existing.contains(where: { $0.name.lowercased() == n.lowercased() }) {
            return refuse("duplicate_name", "the app already has a federated credential named '\(n)'")
        }
        if let same = existing.first(where: { $0.issuer == new.issuer && $0.subject == new.subject }) {
            return refuse("duplicate_subject", "the app's federated credential '\(same.name)' already trusts this issuer and subject")
        }
        return nil
    }
}

extension Applications {
    func federatedPath(_ appID: String) -> String { path(appID) + "/federatedIdentityCredentials" }

    /// The app's FICs (Entra allows 20, so one page).
    public func federatedCredentials(appID: String) throws -> [FederatedIdentityCredential] {
        let r = try client.send("GET", federatedPath(appID), permission: Self.permission)
        guard let m = try? JSONScan.members(r.body), let list = m["value"] else {
            throw VaultError("graph.response", "Graph's list of federated identity credentials has no value")
        }
        var out: [FederatedIdentityCredential] = []
        try JSONScan.elements(r.body, in: list) { out.append(try Self.federated(Array(r.body[$0]))) }
        return out
    }

    /// One FIC by name; nil when the app has none of that name.
    public func federatedCredential(appID: String, name: String) throws -> FederatedIdentityCredential? {
        do {
            let r = try client.send("GET", federatedPath(appID) + "/" + Self.pathSegment(name), permission: Self.permission)
            return try Self.federated(r.body)
        } catch let e as VaultError where e.code == "graph.not_found" {
            return nil
        }
    }

    /// Creates a FIC. Not retried (a lost answer is settled by reading it back by its name).
    public func addFederatedCredential(appID: String, _ new: FederatedIdentityCredential, beforeSend: BeforeSend? = nil) throws -> FederatedIdentityCredential {
        var body = Array(#"{"name":"#.utf8) + JSONWriter.quoted(new.name)
        body += Array(#","issuer":"#.utf8) + JSONWriter.quoted(new.issuer)
        body += Array(#","subject":"#.utf8) + JSONWriter.quoted(new.subject)
        body += Array(#","audiences":["#.utf8) + new.audiences.map(JSONWriter.quoted).joined(separator: [0x2c]) + [0x5d]
        if let d = new.description { body += Array(#","description":"#.utf8) + JSONWriter.quoted(d) }
        body.append(0x7d)
        let r = try client.send("POST", federatedPath(appID), body: body, permission: Self.permission, idempotent: false, beforeSend: beforeSend)
        let made = try Self.federated(r.body)
        guard Self.isKeyID(made.id) else { throw VaultError("graph.response", "Graph answered the new federated credential without an id") }
        return made
    }

    /// Removes a FIC by id or name.
    @discardableResult
    public func removeFederatedCredential(appID: String, idOrName: String) throws -> Removal {
        do {
            _ = try client.send("DELETE", federatedPath(appID) + "/" + Self.pathSegment(idOrName), permission: Self.permission)
            return .removed
        } catch let e as VaultError where e.code == "graph.not_found" {
            return .notFound
        }
    }

    /// A name as one path segment: FIC names are letters, digits, '-' and '_'; anything else is percent-encoded.
    static func pathSegment(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            let c = Character(UnicodeScalar(b))
            if b < 0x80, c.isLetter || c.isNumber || c == "-" || c == "_" { out.append(c) } else { out += "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true) }
        }
        return out
    }

    static func federated(_ bytes: [UInt8]) throws -> FederatedIdentityCredential {
        let m = try JSONScan.members(bytes)
        func s(_ k: String) -> String? { m[k].flatMap { JSONScan.string(bytes, $0) } }
        guard let id = s("id"), let name = s("name"), let issuer = s("issuer"), let subject = s("subject") else {
            throw VaultError("graph.response", "a federated identity credential without id, name, issuer or subject")
        }
        var audiences: [String] = []
        if let list = m["audiences"] {
            try JSONScan.elements(bytes, in: list) { if let a = JSONScan.string(bytes, $0) { audiences.append(a) } }
        }
        return FederatedIdentityCredential(id: id.lowercased(), name: name, issuer: issuer, subject: subject, audiences: audiences,
                                           description: s("description"))
    }
}
