import Graph
import VaultCrypto

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
        VaultError("msal_config.invalid", "\(path) is not a usable MSAL parameters file: \(why)",
                   hint: "it needs \"authority\", \"client_id\" and \"secret\" (or \"client_secret\"); optional \"scope\" and \"endpoint\"",
                   exit: .dataError)
    }

    public static func parse(_ bytes: SecretBytes, path: String) throws -> MSALConfigFile {
        try bytes.withUnsafeBytes { raw in
            let b = raw.bindMemory(to: UInt8.self)
            var p = JSONReader(b)
            let members: [String: JSONReader.Value]
            do {
                members = try p.document()
            } catch let e as JSONReader.Malformed {
                throw bad(path, "it is not valid JSON (\(e.why) at byte \(e.offset))")
            }
            func text(_ key: String) throws -> String? {
                guard let v = members[key] else { return nil }
                guard case .string(let r) = v else { throw bad(path, "\"\(key)\" is not a string") }
                guard let s = JSONReader.decodeString(b, r).flatMap({ String(validating: $0, as: UTF8.self) }) else {
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
            guard case .string(let secretRange) = members[secretKeys[0]]! else { throw bad(path, "\"\(secretKeys[0])\" is not a string") }
            guard let secret = JSONReader.decodeSecret(b, secretRange), secret.count > 0 else {
                throw bad(path, "\"\(secretKeys[0])\" is empty or holds control characters")
            }
            var scope: String?
            switch members["scope"] {
            case nil: break
            case .string(let r)?: scope = JSONReader.decodeString(b, r).flatMap { String(validating: $0, as: UTF8.self) }
            case .array(let items)?:
                guard items.count == 1, case .string(let r) = items[0] else {
                    throw bad(path, "\"scope\" must hold exactly one scope (app-only tokens take one RESOURCE/.default)")
                }
                scope = JSONReader.decodeString(b, r).flatMap { String(validating: $0, as: UTF8.self) }
            default: throw bad(path, "\"scope\" is neither a string nor a list")
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

/// A strict JSON reader over borrowed bytes for small files: validates the whole document and returns the top-level
/// members as byte ranges, so a caller decides which values may become Strings.
struct JSONReader {
    struct Malformed: Error {
        var why: String
        var offset: Int
    }
    enum Value {
        case string(Range<Int>)
        case array([Value])
        case other
    }

    let b: UnsafeBufferPointer<UInt8>
    var i = 0
    static let maxDepth = 32

    init(_ b: UnsafeBufferPointer<UInt8>) { self.b = b }

    func fail(_ why: String) -> Malformed { Malformed(why: why, offset: i) }

    mutating func space() { while i < b.count, [0x20, 0x0a, 0x0d, 0x09].contains(b[i]) { i += 1 } }

    mutating func document() throws -> [String: Value] {
        if b.count >= 3, b[0] == 0xef, b[1] == 0xbb, b[2] == 0xbf { i = 3 } // a UTF-8 byte-order mark, as editors write it
        space()
        guard i < b.count, b[i] == 0x7b else { throw fail("expected an object") }
        var members: [String: Value] = [:]
        i += 1
        space()
        if i < b.count, b[i] == 0x7d { i += 1 } else {
            while true {
                space()
                guard i < b.count, b[i] == 0x22 else { throw fail("expected a member name") }
                let keyRange = try string()
                guard let key = Self.decodeString(b, keyRange).flatMap({ String(validating: $0, as: UTF8.self) }) else { throw fail("bad member name") }
                space()
                guard i < b.count, b[i] == 0x3a else { throw fail("expected ':'") }
                i += 1
                let v = try value(depth: 1)
                guard members[key] == nil else { throw fail("the member \"\(key)\" appears twice") }
                members[key] = v
                space()
                guard i < b.count else { throw fail("unterminated object") }
                if b[i] == 0x2c { i += 1; continue }
                guard b[i] == 0x7d else { throw fail("expected ',' or '}'") }
                i += 1
                break
            }
        }
        space()
        guard i == b.count else { throw fail("trailing bytes after the object") }
        return members
    }

    mutating func value(depth: Int) throws -> Value {
        guard depth <= Self.maxDepth else { throw fail("nested too deeply") }
        space()
        guard i < b.count else { throw fail("expected a value") }
        switch b[i] {
        case 0x22: return .string(try string())
        case 0x5b:
            i += 1
            var items: [Value] = []
            space()
            if i < b.count, b[i] == 0x5d { i += 1; return .array(items) }
            while true {
                items.append(try value(depth: depth + 1))
                space()
                guard i < b.count else { throw fail("unterminated array") }
                if b[i] == 0x2c { i += 1; continue }
                guard b[i] == 0x5d else { throw fail("expected ',' or ']'") }
                i += 1
                return .array(items)
            }
        case 0x7b:
            i += 1
            space()
            if i < b.count, b[i] == 0x7d { i += 1; return .other }
            while true {
                space()
                guard i < b.count, b[i] == 0x22 else { throw fail("expected a member name") }
                _ = try string()
                space()
                guard i < b.count, b[i] == 0x3a else { throw fail("expected ':'") }
                i += 1
                _ = try value(depth: depth + 1)
                space()
                guard i < b.count else { throw fail("unterminated object") }
                if b[i] == 0x2c { i += 1; continue }
                guard b[i] == 0x7d else { throw fail("expected ',' or '}'") }
                i += 1
                return .other
            }
        default:
            for word in ["true", "false", "null"] where b.count - i >= word.utf8.count && zip(b[i...], word.utf8).allSatisfy({ $0 == $1 }) {
                i += word.utf8.count
                return .other
            }
            let start = i
            if i < b.count, b[i] == 0x2d { i += 1 }
            while i < b.count, (0x30...0x39).contains(b[i]) || [0x2e, 0x65, 0x45, 0x2b, 0x2d].contains(b[i]) { i += 1 }
            guard i > start, Double(String(decoding: b[start..<i], as: UTF8.self)) != nil else { throw fail("unexpected character") }
            return .other
        }
    }

    /// Moves past a string, checking its escapes; returns the range including the quotes.
    mutating func string() throws -> Range<Int> {
        let start = i
        i += 1
        while i < b.count {
            let c = b[i]
            if c == 0x22 { i += 1; return start..<i }
            if c < 0x20 { throw fail("a control character inside a string") }
            if c == 0x5c {
                guard i + 1 < b.count else { break }
                let e = b[i + 1]
                if e == 0x75 {
                    guard i + 5 < b.count, b[(i + 2)...(i + 5)].allSatisfy(Self.isHex) else { throw fail("a bad \\u escape") }
                    i += 6
                    continue
                }
                guard [0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74].contains(e) else { throw fail("a bad escape") }
                i += 2
                continue
            }
            i += 1
        }
        throw fail("unterminated string")
    }

    static func isHex(_ c: UInt8) -> Bool { (0x30...0x39).contains(c) || (0x41...0x46).contains(c) || (0x61...0x66).contains(c) }

    static func decodeString(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> [UInt8]? { JSONStringDecoding.bytes(b, range) }
    static func decodeSecret(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> SecretBytes? { JSONStringDecoding.secret(b, range) }
}
