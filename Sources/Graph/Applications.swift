import FoundationEssentials
import VaultCrypto
import VaultErrors
import VaultJSON
import VaultHTTP

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

/// A key credential (certificate) as Graph lists it: `customKeyIdentifier` is the SHA-1 thumbprint (hex).
public struct KeyCredential: Sendable, Equatable {
    public var keyID: String
    public var thumbprint: String?
    public var displayName: String?
    public var end: String?
    /// "Verify" (a certificate the app signs its assertions with) or "Encrypt" (one Entra encrypts tokens to).
    public var usage: String?
    /// Whether the app can sign in with it (usage Verify, or not said).
    public var signsIn: Bool { usage == nil || usage == "Verify" }
    public var endDate: Date? { end.flatMap(GraphDates.parse) }
}

/// A newly added password: its metadata, and the secret in secret memory.
public struct AddedPassword: Sendable {
    public var credential: PasswordCredential
    public var secret: SecretBytes
}

/// `applications(appId='…')`: read password credentials, addPassword, removePassword (docs/protocols.md,
/// "Graph: addPassword and removePassword").
public struct Applications: Sendable {
    let client: GraphClient
    public init(client: GraphClient) { self.client = client }

    /// What the credential calls need when Graph refuses them.
    public static let permission = GraphPermission.ownCredentials

    func path(_ appID: String) -> String { "/v1.0/applications(appId='\(appID)')" }

    public func passwords(appID: String) throws -> [PasswordCredential] {
        let r = try client.send("GET", path(appID) + "?$select=id,passwordCredentials", permission: Self.permission)
        guard let m = try? JSONScan.members(r.body), let list = m["passwordCredentials"] else {
            throw VaultError("graph.response", "Graph's application has no passwordCredentials")
        }
        var out: [PasswordCredential] = []
        try JSONScan.elements(r.body, in: list) { out.append(try Self.credential(Array(r.body[$0]))) }
        return out
    }

    public func keys(appID: String) throws -> [KeyCredential] { try keysAndObjectID(appID: appID).keys }

    /// The application's key credentials and its object id (the `iss` of addKey/removeKey proofs).
    public func keysAndObjectID(appID: String) throws -> (keys: [KeyCredential], objectID: String) {
        let read = try keyCredentialsForUpdate(appID: appID)
        return (read.keys, read.objectID)
    }

    /// The key credentials as Graph returns them for one object with `$select=keyCredentials` (with each `key`,
    /// the certificate), both parsed and as the raw JSON objects, which a PATCH sends back unchanged.
    public func keyCredentialsForUpdate(appID: String) throws -> (keys: [KeyCredential], raw: [[UInt8]], objectID: String) {
        let r = try client.send("GET", path(appID) + "?$select=id,keyCredentials", permission: Self.permission)
        guard let m = try? JSONScan.members(r.body), let list = m["keyCredentials"],
              let objectID = m["id"].flatMap({ JSONScan.string(r.body, $0) }), Self.isKeyID(objectID) else {
            throw VaultError("graph.response", "Graph's application has no keyCredentials or no id")
        }
        var out: [KeyCredential] = []
        var raw: [[UInt8]] = []
        try JSONScan.elements(r.body, in: list) {
            let bytes = Array(r.body[$0])
            out.append(try Self.keyCredential(bytes))
            raw.append(bytes)
        }
        return (out, raw, objectID.lowercased())
    }

    /// Whether a raw key credential carries its certificate (`key` not null): only those survive a PATCH.
    public static func hasKey(_ raw: [UInt8]) -> Bool {
        guard let m = try? JSONScan.members(raw), let k = m["key"] else { return false }
        return JSONScan.string(raw, k).map { !$0.isEmpty } ?? false
    }

    /// PATCH /applications/{id} with the whole keyCredentials collection: `existing` (raw objects as read) plus
    /// optionally one new certificate. Needs Application.ReadWrite.OwnedBy (owner) or .All.
    public func replaceKeyCredentials(objectID: String, existing: [[UInt8]], adding certificate: [UInt8]?, displayName: String,
                                      beforeSend: BeforeSend? = nil) throws {
        var items = existing
        if let certificate {
            items.append(Array(#"{"type":"AsymmetricX509Cert","usage":"Verify","displayName":"\#(JSONWriter.escaped(displayName))","key":"\#(Data(certificate).base64EncodedString())"}"#.utf8))
        }
        var body = Array(#"{"keyCredentials":["#.utf8)
        for (i, item) in items.enumerated() { if i > 0 { body.append(0x2c) }; body += item }
        body += Array("]}".utf8)
        _ = try client.send("PATCH", "/v1.0/applications/\(objectID)", body: body, permission: Self.permission, idempotent: false,
                            beforeSend: beforeSend)
    }

    static func keyCredential(_ bytes: [UInt8]) throws -> KeyCredential {
        let k = try JSONScan.members(bytes)
        func s(_ key: String) -> String? { k[key].flatMap { JSONScan.string(bytes, $0) } }
        guard let keyID = s("keyId") else { throw VaultError("graph.response", "a key credential without keyId") }
        return KeyCredential(keyID: keyID.lowercased(), thumbprint: s("customKeyIdentifier")?.uppercased(),
                             displayName: s("displayName"), end: s("endDateTime"), usage: s("usage"))
    }

    /// addKey (docs/protocols.md, "Graph: addKey and removeKey"): the new certificate (public DER) with a proof signed
    /// by a current certificate. Not retried: a lost answer is settled by looking for the thumbprint.
    public func addKey(objectID: String, certificate: [UInt8], displayName: String, proof: SecretBytes,
                       beforeSend: BeforeSend? = nil) throws -> KeyCredential {
        let head = #"{"keyCredential":{"type":"AsymmetricX509Cert","usage":"Verify","displayName":"\#(JSONWriter.escaped(displayName))","key":"\#(Data(certificate).base64EncodedString())"},"passwordCredential":null,"proof":""#
        var body = Array(head.utf8) + proof.withUnsafeBytes { Array($0) } + Array(#""}"#.utf8)
        defer { wipe(&body) }
        let r = try client.send("POST", "/v1.0/applications/\(objectID)/addKey", body: body, permission: Self.permission,
                                idempotent: false, beforeSend: beforeSend)
        let key = try Self.keyCredential(r.body)
        guard Self.isKeyID(key.keyID) else { throw VaultError("graph.response", "addKey answered without a keyId") }
        return key
    }

    public func removeKey(objectID: String, keyID: String, proof: SecretBytes) throws -> Removal {
        var body = Array(#"{"keyId":"\#(keyID)","proof":""#.utf8) + proof.withUnsafeBytes { Array($0) } + Array(#""}"#.utf8)
        defer { wipe(&body) }
        do {
            _ = try client.send("POST", "/v1.0/applications/\(objectID)/removeKey", body: body, permission: Self.permission)
            return .removed
        } catch let e as VaultError where (e.code == "graph.bad_request" || e.code == "graph.not_found")
                    && e.reason.lowercased().contains("no key credential found") {
            return .notFound
        }
    }

    static func credential(_ bytes: [UInt8]) throws -> PasswordCredential {
        let m = try JSONScan.members(bytes)
        func s(_ k: String) -> String? { m[k].flatMap { JSONScan.string(bytes, $0) } }
        guard let keyID = s("keyId") else { throw VaultError("graph.response", "a password credential without keyId") }
        return PasswordCredential(keyID: keyID.lowercased(), hint: s("hint"), displayName: s("displayName"), start: s("startDateTime"), end: s("endDateTime"))
    }

    /// Adds a password; the secret goes straight from the response into secret memory and the response is wiped.
    public func addPassword(appID: String, displayName: String, end: Date, beforeSend: BeforeSend? = nil) throws -> AddedPassword {
        let body = #"{"passwordCredential":{"displayName":"\#(JSONWriter.escaped(displayName))","endDateTime":"\#(GraphDates.format(end))"}}"#
        var r = try client.send("POST", path(appID) + "/addPassword", body: Array(body.utf8), permission: Self.permission,
                                idempotent: false, beforeSend: beforeSend)
        defer { wipe(&r.body) }
        guard let m = try? JSONScan.members(r.body) else {
            throw VaultError("graph.response", "addPassword answered with a body that is not a JSON object")
        }
        guard let secretRange = m["secretText"], secretRange.count > 2, r.body[secretRange.lowerBound] == 0x22 else {
            throw VaultError("graph.response", "addPassword answered without a secretText")
        }
        // JSON escapes (`\u002b` for `+`, `\/`) are decoded straight into secret memory: the password already exists
        // at Entra ID, so refusing a validly encoded secret now would only strand it.
        guard let secret = r.body.withUnsafeBufferPointer({ JSONStringDecoding.secret($0, secretRange) }), secret.count > 0 else {
            throw VaultError("graph.response", "addPassword answered with a secretText that is not a valid JSON string")
        }
        return AddedPassword(credential: try Self.credential(r.body), secret: secret)
    }

    public enum Removal: Sendable, Equatable {
        /// Graph answered 204: the password existed and is gone.
        case removed
        /// Graph answered that no such password exists, in its 400 or 404 form. Under replication lag this also
        /// happens for a password created moments ago, so it proves nothing on its own.
        case notFound
    }

    /// Removes a password by keyId.
    @discardableResult
    public func removePassword(appID: String, keyID: String) throws -> Removal {
        do {
            _ = try client.send("POST", path(appID) + "/removePassword", body: Array(#"{"keyId":"\#(keyID)"}"#.utf8),
                                permission: Self.permission)
            return .removed
        } catch let e as VaultError where Self.isNotFound(e, keyID: keyID) {
            return .notFound
        }
    }

    static func isNotFound(_ e: VaultError, keyID: String) -> Bool {
        let text = e.reason.lowercased()
        let aboutPassword = text.contains("no password credential found") || text.contains(keyID.lowercased())
        return (e.code == "graph.bad_request" || e.code == "graph.not_found") && aboutPassword
    }

    /// A keyId Graph returned for a new password: a GUID.
    public static func isKeyID(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        return parts.map(\.count) == [8, 4, 4, 4, 12] && parts.allSatisfy { $0.allSatisfy { $0.isASCII && $0.isHexDigit } }
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
}
