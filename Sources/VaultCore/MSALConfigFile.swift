import Graph
import VaultCrypto
import VaultErrors
import VaultRotation
import VaultTokens
import VaultJSON

/// The JSON parameters file of MSAL's confidential-client samples:
/// `{"authority": "https://login.microsoftonline.com/TENANT", "client_id": "…", "secret": "…", "scope": ["…/.default"],
/// "endpoint": "https://graph.microsoft.com/v1.0/users"}` (`client_secret` is accepted for `secret`).
/// The file is parsed straight from secret memory, and the secret's bytes (JSON escapes decoded) go from there into
/// new secret memory: they never become a Swift `String`.
public struct MSALConfigFile: Sendable {
    public var authority: String
    public var clientID: String
    public var secret: SecretBytes
    public var scope: String?
    /// The Graph root the samples' `endpoint` lies under (`scheme://host[:port]`), if one was given.
    public var graphRoot: String?

    static func bad(_ path: String, _ why: String) -> VaultError {
        VaultError("msal_config.invalid", "\(path) is not a usable MSAL parameters file: \(why)")
    }

    public static func parse(_ bytes: SecretBytes, path: String) throws -> MSALConfigFile {
        try bytes.withUnsafeBytes { raw in
            let b = raw.bindMemory(to: UInt8.self)
            let members: [String: Range<Int>]
            do {
                members = try JSONScan.members(b, in: 0..<b.count)
            } catch let e as JSONScan.Malformed {
                throw bad(path, "it is not valid JSON (\(e.why) at byte \(e.offset))")
            }
            func isString(_ r: Range<Int>) -> Bool { b[r.lowerBound] == 0x22 }
            func text(_ key: String) throws -> String? {
                guard let r = members[key] else { return nil }
                guard isString(r) else { throw bad(path, "\"\(key)\" is not a string") }
                guard let s = JSONStringDecoding.bytes(b, r).flatMap({ String(validating: $0, as: UTF8.self) }) else {
                    throw bad(path, "\"\(key)\" is not valid text")
                }
                return s
            }
            guard let authority = try text("authority") else { throw bad(path, "it has no \"authority\"") }
            guard let clientID = try text("client_id") else { throw bad(path, "it has no \"client_id\"") }
            let secretKeys = ["secret", "client_secret"].filter { members[$0] != nil }
            guard secretKeys.count == 1 else {
                throw bad(path, secretKeys.isEmpty ? "it has no \"secret\" (a certificate sample's file is not supported yet)"
                                                   : "it has both \"secret\" and \"client_secret\"")
            }
            guard let secretRange = members[secretKeys[0]], isString(secretRange) else { throw bad(path, "\"\(secretKeys[0])\" is not a string") }
            guard let secret = JSONStringDecoding.secret(b, secretRange), secret.count > 0 else {
                throw bad(path, "\"\(secretKeys[0])\" is empty or holds control characters")
            }
            var scope: String?
            if let r = members["scope"] {
                if isString(r) {
                    scope = JSONStringDecoding.bytes(b, r).flatMap { String(validating: $0, as: UTF8.self) }
                } else if b[r.lowerBound] == 0x5b {
                    let items = try JSONScan.elements(b, in: r)
                    guard items.count == 1, isString(items[0]) else {
                        throw bad(path, "\"scope\" must hold exactly one scope (app-only tokens take one RESOURCE/.default)")
                    }
                    scope = JSONStringDecoding.bytes(b, items[0]).flatMap { String(validating: $0, as: UTF8.self) }
                } else {
                    throw bad(path, "\"scope\" is neither a string nor a list")
                }
            }
            if members["scope"] != nil, scope == nil { throw bad(path, "\"scope\" is not valid text") }
            var graphRoot: String?
            if let endpoint = try text("endpoint") {
                // "https://graph.microsoft.com/v1.0/users": the Graph root is what precedes the path.
                guard let sep = endpoint.firstRange(of: "://") else { throw bad(path, "\"endpoint\" is not a URL") }
                let afterScheme = endpoint[sep.upperBound...]
                let authorityPart = afterScheme.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
                graphRoot = String(endpoint[..<sep.upperBound]) + authorityPart
            }
            return MSALConfigFile(authority: authority, clientID: clientID, secret: secret, scope: scope, graphRoot: graphRoot)
        }
    }
}
