import FoundationEssentials
import VaultCrypto

/// A password credential as Graph lists it (secretText is never returned on reads).
public struct PasswordCredential: Sendable, Equatable {
    public var keyID: String
    public var hint: String?
    public var displayName: String?
    public var start: String?
    public var end: String?

    public var endDate: Date? { end.flatMap(GraphDates.parse) }
    public var startDate: Date? { start.flatMap(GraphDates.parse) }
}

/// A newly added password: its metadata, and the secret in secret memory.
public struct AddedPassword: Sendable {
    public var credential: PasswordCredential
    public var secret: SecretBytes
}

/// `applications(appId='…')`: read password credentials, addPassword, removePassword (graph-api.md §5).
public struct Applications: Sendable {
    let client: GraphClient
    public init(client: GraphClient) { self.client = client }

    public static let permissionHint =
        "grant the app Application.ReadWrite.OwnedBy and add its service principal as an owner of the app registration (or grant Application.ReadWrite.All), with admin consent; or rotate by hand with `vault rotate-secret APP --manual`"

    func path(_ appID: String) -> String { "/v1.0/applications(appId='\(appID)')" }

    public func passwords(appID: String) throws -> [PasswordCredential] {
        let r = try client.send("GET", path(appID) + "?$select=id,passwordCredentials", permissionHint: Self.permissionHint)
        guard let m = try? JSONScan.members(r.body), let list = m["passwordCredentials"] else {
            throw VaultError("graph.response", "Graph's application has no passwordCredentials", exit: .dataError)
        }
        var out: [PasswordCredential] = []
        try JSONScan.elements(r.body, in: list) { out.append(try Self.credential(Array(r.body[$0]))) }
        return out
    }

    static func credential(_ bytes: [UInt8]) throws -> PasswordCredential {
        let m = try JSONScan.members(bytes)
        func s(_ k: String) -> String? { m[k].flatMap { JSONScan.string(bytes, $0) } }
        guard let keyID = s("keyId") else { throw VaultError("graph.response", "a password credential without keyId", exit: .dataError) }
        return PasswordCredential(keyID: keyID.lowercased(), hint: s("hint"), displayName: s("displayName"), start: s("startDateTime"), end: s("endDateTime"))
    }

    /// Adds a password; the secret goes straight from the response into secret memory and the response is wiped.
    public func addPassword(appID: String, displayName: String, end: Date) throws -> AddedPassword {
        let body = #"{"passwordCredential":{"displayName":"\#(GraphDates.jsonEscape(displayName))","endDateTime":"\#(GraphDates.format(end))"}}"#
        var r = try client.send("POST", path(appID) + "/addPassword", body: Array(body.utf8), permissionHint: Self.permissionHint)
        defer { wipe(&r.body) }
        let m = try JSONScan.members(r.body)
        guard let secretRange = m["secretText"], secretRange.count > 2, r.body[secretRange.lowerBound] == 0x22 else {
            throw VaultError("graph.response", "addPassword answered without a secretText", exit: .dataError)
        }
        let inner = (secretRange.lowerBound + 1)..<(secretRange.upperBound - 1)
        guard !r.body[inner].contains(0x5c) else {
            throw VaultError("graph.response", "addPassword returned a secret with escaped characters", exit: .dataError)
        }
        let secret = r.body.withUnsafeBytes { SecretBytes(copying: UnsafeRawBufferPointer(rebasing: $0[inner])) }
        return AddedPassword(credential: try Self.credential(r.body), secret: secret)
    }

    /// Removes a password by keyId; an unknown keyId counts as already removed. Returns false in that case.
    @discardableResult
    public func removePassword(appID: String, keyID: String) throws -> Bool {
        do {
            _ = try client.send("POST", path(appID) + "/removePassword", body: Array(#"{"keyId":"\#(keyID)"}"#.utf8),
                                permissionHint: Self.permissionHint)
            return true
        } catch let e as VaultError where e.code == "graph.bad_request" && e.reason.contains("No password credential found") {
            return false
        }
    }
}

/// Graph's timestamps.
public enum GraphDates {
    public static func format(_ d: Date) -> String {
        d.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: false))
    }

    /// `2026-01-01T10:00:00Z` or with a fraction of any length.
    public static func parse(_ s: String) -> Date? {
        var text = s
        if let dot = text.firstIndex(of: "."), let z = text.lastIndex(of: "Z"), dot < z { text = String(text[..<dot]) + "Z" }
        return try? Date(text, strategy: Date.ISO8601FormatStyle())
    }

    static func jsonEscape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default: if c.value < 0x20 { out += " " } else { out.unicodeScalars.append(c) }
            }
        }
        return out
    }
}
