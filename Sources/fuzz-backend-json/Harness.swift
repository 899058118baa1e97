import FleetBackend
import FoundationEssentials
import FuzzSupport
import VaultCrypto

/// Fuzzes what a fleet backend (OpenBao / HashiCorp Vault) answers, as `fuzz-token-response` does for Entra ID: a KV v2
/// read (with the engine's `Date`), the fleet rotation record it holds, and every time in it. Input: the `Date` header
/// on the first line, then the JSON body. The same body is also read as the engine's OIDC discovery document and key
/// set (`vault issuer publish`): what publish writes from a key set must read back as the same keys; and as an identity
/// token answer.
func harness(_ bytes: [UInt8]) {
    let newline = bytes.firstIndex(of: 0x0a) ?? bytes.endIndex
    let date = String(decoding: bytes[..<newline], as: UTF8.self)
    let body = Array(bytes[min(newline + 1, bytes.count)...])
    issuer(body)
    // The same body as an identity token answer (`identity/oidc/token/ROLE`): a token comes back whole, never empty.
    if let token = try? KVClient.decodeIdentityToken(body) {
        precondition(token.count > 0 && token.withUnsafeBytes { $0.allSatisfy { $0 >= 0x20 && $0 != 0x7f } }, "an identity token with a control character")
    }
    let readAt = Date(timeIntervalSince1970: 1_800_000_000)
    guard let secret = try? KVClient.decodeSecret(body, name: "fuzz", date: date, readAt: readAt) else { return }
    precondition(secret.version >= 0, "negative KV version")
    if let created = secret.created {
        precondition(created.timeIntervalSince1970.isFinite && created.timeIntervalSince1970 >= 0, "created_time out of range")
        _ = secret.local(created)
    }
    guard let (record, newSecret) = try? FleetLock.record(from: secret, name: "fuzz") else { return }
    // Whatever the engine held, every time is finite and the lock's end is a date `vault status` can print and compare.
    for d in [record.started, record.expires] + (record.ended.map { [$0] } ?? []) {
        precondition(d.timeIntervalSince1970.isFinite, "a record time is not finite")
        _ = Int64(d.timeIntervalSince1970)
    }
    _ = record.isLive(at: readAt)
    _ = newSecret?.count
}

func issuer(_ body: [UInt8]) {
    let discovery = try? OIDCIssuer.discovery(body, from: "fuzz")
    guard let keys = try? OIDCIssuer.keys(body, from: "fuzz") else { return }
    let d = discovery ?? OIDCIssuer.Discovery(issuer: "https://issuer.example.com/v1/identity/oidc", jwksURI: "https://issuer.example.com/k", algorithms: nil)
    _ = OIDCIssuer.check(url: d.issuer, discovery: d, keys: keys, live: (d.issuer, keys))
    guard let p = try? OIDCIssuer.publication(discovery: d, keys: keys, jwksURI: nil) else { return }
    guard let again = try? OIDCIssuer.keys(p.keySet, from: "copy") else { preconditionFailure("a published key set does not read back") }
    precondition(again.map(\.kid) == p.kept.map(\.kid) && again.allSatisfy { $0.use == "sig" && $0.isRS256 }, "a published key changed")
    precondition((try? OIDCIssuer.discovery(p.discovery, from: "copy"))?.issuer == d.issuer, "the published issuer changed")
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
            let date = "Sun, 06 Dec 2026 22:08:26 GMT\n"
            let record = #"{"data":{"data":{"state":"rotating","owner":"h/1 pid 2","started":"1796595000","expires":"1796595600","ttl":"600","journal":"{}"},"metadata":{"version":7,"created_time":"2026-12-06T22:08:20.123456789Z"}}}"#
            return [
                date + record,
                date + record.replacing("\"600\"", with: "\"1e300\""),
                date + record.replacing("\"1796595600\"", with: "\"nan\""),
                "Sun, 06 Dec 99999 22:08:26 GMT\n" + record,
                date + record.replacing("2026-12-06T22:08:20.123456789Z", with: "9999-12-31T23:59:60.999999999999999999Z"),
                date + #"{"data":{"data":{"a":"b"},"metadata":{"version":-1}}}"#,
                date + #"{"data":{"data":null,"metadata":{"version":1,"created_time":null}}}"#,
                "\n" + #"{"data":"#,
                "\n" + #"{"issuer":"https://i.example/v1/identity/oidc","jwks_uri":"https://i.example/k","keys":[{"use":"sig","kty":"RSA","kid":"k\u00e9","alg":"RS256","n":"AQAB","e":"AQAB"},{"kty":"OKP","kid":"e","alg":"EdDSA","x":"AA"}]}"#,
                "\n" + #"{"keys":[{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB","d":"AQAB"}]}"#,
            ].enumerated().map { ("seed-\($0.offset)", Array($0.element.utf8)) }
        }
    }
}
#endif
