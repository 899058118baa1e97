import EntraAuth
import FuzzSupport
import FoundationEssentials
import Graph
import VaultCore
import VaultTokens
import VaultRotation
import VaultCrypto
import VaultHTTP
import VaultPKI
import VaultJSON

/// Fuzzes what users paste and servers send into the parsers added for migrating users and Graph's rules: endpoint
/// URLs (and cloud resolution), MSAL parameters files, log redaction of JSON and forms, JSON string decoding into
/// secret memory, the users-filter reader, header rules, and PEM files (certificate import). The first byte picks the parser; the rest is its input.
func harness(_ bytes: [UInt8]) {
    guard let selector = bytes.first else { return }
    let input = Array(bytes.dropFirst())
    let text = String(decoding: input, as: UTF8.self)
    switch selector % 8 {
    case 0:
        if let url = try? EndpointURL.parse(text) {
            // Invariants: the normalised form parses to itself, names no user-info, and plain http is loopback only.
            precondition((try? EndpointURL.parse(url.description)) == url, "normalisation is not stable for \(url)")
            precondition(!url.host.contains("@"), "user-info in host")
            precondition(url.scheme == "https" || url.isLoopback, "plain http to \(url.host)")
        }
        _ = try? AppEndpoints.resolve(cloud: nil, authority: text, graph: nil, tenant: nil, allowCustom: true)
        _ = try? AppEndpoints.resolve(cloud: .usgov, authority: nil, graph: text, tenant: "t.us", allowCustom: false)
    case 1:
        var copy = input
        let secret = SecretBytes(consuming: &copy)
        _ = try? MSALConfigFile.parse(secret, path: "fuzz.json")
    case 2:
        let out = Redaction.jsonForLog(input)
        // Redaction keeps a document a document: what it prints for valid JSON is valid JSON again.
        if input.count < 4096, (try? JSONDecoder().decode(JSONValue.self, from: Data(input))) != nil,
           !out.contains("not valid JSON") {
            precondition((try? JSONDecoder().decode(JSONValue.self, from: Data(out.utf8))) != nil, "redaction broke the JSON: \(out)")
        }
    case 3:
        _ = input.withUnsafeBytes { Redaction.formSummary($0) }
    case 4:
        input.withUnsafeBufferPointer { b in
            if b.count >= 2 {
                _ = JSONStringDecoding.secret(b, 0..<b.count)
                _ = JSONStringDecoding.bytes(b, 1..<b.count)
            }
        }
    case 5:
        _ = UserQueryRules.needsAdvanced(filter: text, orderBy: nil)
        _ = UserQueryRules.needsAdvanced(filter: nil, orderBy: text)
    case 7:
        var copy = input
        let pem = SecretBytes(consuming: &copy)
        if let blocks = try? CertificateImport.pemBlocks(pem) {
            // Every block decodes to at least one byte and no more than its base64 could hold.
            precondition(blocks.allSatisfy { $0.der.count > 0 && $0.der.count <= input.count }, "a PEM block decoded to an impossible size")
        }
        _ = try? CertificateImport.fromPEM(pem)
    default:
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        if parts.count == 2, HeaderRules.problem(name: parts[0], value: parts[1]) == nil {
            precondition(!parts[1].utf8.contains(0x0a) && !parts[1].utf8.contains(0x0d), "a line break passed the header rules")
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    harness(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
@main struct Replay {
    static func main() {
        FuzzReplay.main(harness) {
            let seeds: [(UInt8, String)] = [
                (0, "https://login.microsoftonline.com/contoso.onmicrosoft.com"), (0, "https://login.microsoftonline.com@evil.example/"),
                (0, "http://127.0.0.1:8443/t/"), (0, "HTTPS://Graph.Microsoft.COM:443/v1.0/"), (0, "https://[::1]:9/x"),
                (1, #"{"authority":"https://login.microsoftonline.com/t.com","client_id":"22222222-2222-2222-2222-222222222222","scope":["https://graph.microsoft.com/.default"],"secret":"ab\u002bc","endpoint":"https://graph.microsoft.com/v1.0/users"}"#),
                (1, #"{"authority": 1, "secret": "\uD800"}"#),
                (2, #"{"displayName":"Ada","passwordProfile" : {"password":"p"},"list":[{"secretText":"s"}],"n":1.5e3,"b":true}"#),
                (2, #"{"password":"unterminated"#),
                (3, "client_id=abc&grant_type=client_credentials&client_secret=s%2B&scope=x&%3D=y"),
                (4, #""a\u00e9\n\/\"""#), (4, #""\uD83D\uDE00""#),
                (5, "startswith(displayName,'A') and createdDateTime ge 2021-01-01T00:00:00Z or not(mail eq null)"),
                (5, "businessPhones/any(p:p eq '1') and assignedLicenses/$count eq 0"),
                (6, "ConsistencyLevel: eventual"), (6, "X-A: b\r\nAuthorization: x"),
                (7, "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
                (7, "Bag Attributes\n-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\n@@@\n-----END RSA PRIVATE KEY"),
            ]
            return seeds.enumerated().map { ("seed-\($0.offset)", [$0.element.0] + Array($0.element.1.utf8)) }
        }
    }
}
#endif
