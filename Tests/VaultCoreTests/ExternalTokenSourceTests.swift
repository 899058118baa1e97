import EntraAuth
import Foundation
import Testing
import VaultCrypto
import VaultErrors
import VaultStore
import VaultTokens

/// A federated app's token file, read the way `vault token` reads it: never torn by a writer that renames, checked as
/// a JWT, re-read once when a writer in place was caught half-way, and every problem said clearly.
@Suite("federated token files", .serialized)
struct ExternalTokenSourceTests {
    /// A compact JWS with the claims vault checks (the signature is not checked by vault, only by Entra ID).
    static func jwt(subject: String, exp: Double = Date().timeIntervalSince1970 + 600, alg: String = "RS256", padding: Int = 0, kid: String = "k1") -> String {
        func b64url(_ s: String) -> String {
            Data(s.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        let header = b64url(#"{"alg":"\#(alg)","kid":"\#(kid)","typ":"JWT"}"#)
        let payload = b64url(#"{"iss":"https://issuer.example/oidc","sub":"\#(subject)","aud":"api://AzureADTokenExchange","exp":\#(Int(exp)),"pad":"\#(String(repeating: "x", count: padding))"}"#)
        return header + "." + payload + "." + b64url(String(repeating: "s", count: 256))
    }

    @Sendable static func bytes(_ s: String) -> SecretBytes { var b = Array(s.utf8); return SecretBytes(consuming: &b) }

    static func directory() -> String {
        let d = NSTemporaryDirectory() + "vault-token-file-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test("a token file replaced by rename in a tight loop is never read torn: every read is one of the written tokens")
    func renameIsNeverTorn() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/token"
        // Tokens that differ from their first bytes on (the header's kid) and in length (a few KiB each): a mix of two
        // is none of them.
        let tokens = (0..<8).map { Self.jwt(subject: "subject-\($0)", padding: 500 * ($0 + 1), kid: "key-\($0)-" + String(repeating: "\($0)", count: 8)) }
        try Data(tokens[0].utf8).write(to: URL(fileURLWithPath: path))
        let stop = Atomic(false)
        let writer = Thread {
            var i = 0
            while !stop.value {
                let temp = dir + "/token.\(i % 2)"
                _ = FileManager.default.createFile(atPath: temp, contents: Data(tokens[i % tokens.count].utf8))
                rename(temp, path)
                i += 1
            }
        }
        writer.start()
        defer { stop.value = true }
        let source = TokenFileSource(path: path)
        let written = Set(tokens)
        var seen = Set<String>()
        for _ in 0..<3000 {
            let read = try source.read(now: Date())
            let text = read.token.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
            #expect(written.contains(text), "a read that is none of the written tokens: \(text.count) bytes")
            seen.insert(read.subject)
        }
        stop.value = true
        #expect(seen.count > 1, "the writer was replacing the file while vault read it")
    }

    @Test("a long subject (up to Entra's 600 characters) is kept whole: a federated credential made from it must match exactly")
    func longClaimsKeptWhole() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/token"
        let subject = "system:serviceaccount:" + String(repeating: "n", count: 570)
        try Data(Self.jwt(subject: subject).utf8).write(to: URL(fileURLWithPath: path))
        let read = try TokenFileSource(path: path).read(now: Date())
        #expect(read.subject == subject, "the subject came back \(read.subject.count) characters long, not \(subject.count)")
        #expect(read.issuer == "https://issuer.example/oidc")
    }

    @Test("a file rewritten in place and caught half-written is read once more; twice torn is an error")
    func tornInPlaceIsReadAgain() throws {
        let token = Self.jwt(subject: "whole")
        // The writer is caught half-way on the first read, and done by the second.
        let reads = Atomic(0)
        let source = TokenFileSource(path: "/run/token") { _ in
            reads.value += 1
            return Self.bytes(reads.value == 1 ? String(token.prefix(token.count / 2)) : token + "\n")
        }
        let read = try source.read(now: Date())
        #expect(reads.value == 2)
        #expect(read.subject == "whole" && read.issuer == "https://issuer.example/oidc" && read.audience == ["api://AzureADTokenExchange"])
        #expect(read.token.count == token.utf8.count, "the trailing newline is not part of the token")
        // Torn twice: said, not retried forever.
        let always = Atomic(0)
        let torn = TokenFileSource(path: "/run/token") { _ in always.value += 1; return Self.bytes(String(token.prefix(40))) }
        #expect(throws: VaultError.self) { try torn.read(now: Date()) }
        #expect(always.value == 2)
        // Emptied (truncated in place) and not yet written: read once more too.
        let emptied = Atomic(0)
        let refilled = TokenFileSource(path: "/run/token") { path in
            emptied.value += 1
            if emptied.value == 1 { throw VaultError("federated.file", "the token file \(path) is empty", context: ["case": "empty", "path": path]) }
            return Self.bytes(token)
        }
        #expect(try refilled.read(now: Date()).subject == "whole")
        #expect(emptied.value == 2)
    }

    @Test("what a token file can be, and the error each gives", arguments: [
        ("missing", "federated.file", "missing"),
        ("empty", "federated.file", "empty"),
        ("directory", "federated.file", "not_regular"),
        ("huge", "federated.file", "too_large"),
        ("two-segments", "federated.token", "malformed"),
        ("hs256", "federated.token", "malformed"),
        ("no-sub", "federated.token", "malformed"),
        ("expired", "federated.token", "expired"),
        ("spaces", "federated.token", "empty"),
    ])
    func problems(_ kind: String, _ code: String, _ kase: String) throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/token"
        func write(_ s: String) { _ = FileManager.default.createFile(atPath: path, contents: Data(s.utf8)) }
        switch kind {
        case "missing": break
        case "empty": write("")
        case "directory": try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        case "huge": write(String(repeating: "a", count: ExternalAssertion.maxBytes + 1))
        case "two-segments": write("eyJhbGciOiJSUzI1NiJ9.e30")
        case "hs256": write(Self.jwt(subject: "s", alg: "HS256"))
        case "no-sub": write(Self.jwt(subject: ""))
        case "expired": write(Self.jwt(subject: "s", exp: Date().timeIntervalSince1970 - 5))
        default: write(" \n\t\n")
        }
        do {
            _ = try TokenFileSource(path: path).read(now: Date())
            Issue.record("\(kind) was accepted")
        } catch let e as VaultError {
            #expect(e.code.rawValue == code && e.context["case"] == kase, "\(kind): \(e.code) \(e.context["case"] ?? "-"): \(e.reason)")
            #expect(e.reason.contains(path))
        }
    }

    @Test("a token file reached through symbolic links (a Kubernetes projected volume's ..data) is read")
    func symlinks() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/..2026_12_07", withIntermediateDirectories: false)
        _ = FileManager.default.createFile(atPath: dir + "/..2026_12_07/token", contents: Data(Self.jwt(subject: "pod").utf8))
        try FileManager.default.createSymbolicLink(atPath: dir + "/..data", withDestinationPath: "..2026_12_07")
        try FileManager.default.createSymbolicLink(atPath: dir + "/token", withDestinationPath: "..data/token")
        #expect(try TokenFileSource(path: dir + "/token").read(now: Date()).subject == "pod")
    }
}

/// A flag two threads share.
final class Atomic<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
