import FleetBackend
import Testing
import VaultErrors
import VaultHTTP

/// What a real OpenBao 2.7.2 dev server answered (`-dev-tls`, identity/oidc/config issuer set), a key set holding an
/// RS256 named key's current and next keys and an EdDSA named key's (every named key shares the one key set).
enum BaoSamples {
    static let discovery = #"{"issuer":"https://issuer.example.com/v1/identity/oidc","jwks_uri":"https://issuer.example.com/v1/identity/oidc/.well-known/keys","response_types_supported":["id_token"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["RS256","RS384","RS512","ES256","ES384","ES512","EdDSA"]}"#
    static let n = "vttqt_4tFYIRRhaHmI6jZsSXkexLKz5BlY266uSMTvWCWM1wGc9Hng8ebruaNioiwNaSGoCe9kzuSMierqpCByrf1OZN1q9DYrWJMLBIaaYYA"
    static func rsa(_ kid: String, use: String = "sig", alg: String = "RS256") -> String {
        #"{"use":"\#(use)","kty":"RSA","kid":"\#(kid)","alg":"\#(alg)","n":"\#(n)","e":"AQAB"}"#
    }
    static let ed = #"{"use":"sig","kty":"OKP","kid":"45193f38-98c8-b3c1-35f3-8457b24c67bb","crv":"Ed25519","alg":"EdDSA","x":"aRdrLI1HcsjSlE5yMi5Ws3yLBqODR0_8qp1u2IDKoR4"}"#
    static let keys = #"{"keys":["# + [ed, rsa("f05f7c6e-328f-661b-ab73-431ed7f8b813"), rsa("ff8ff328-0335-5d1c-b522-07005ecb93d6")].joined(separator: ",") + "]}"
}

struct Canned: HTTPTransport {
    let answers: [String: HTTPResponse]
    func send(_ request: HTTPRequest) throws -> HTTPResponse { answers[request.url] ?? HTTPResponse(status: 404) }
}

@Suite("OIDC issuer: the engine's documents read, rewritten for static hosting, and the hosted copy checked")
struct OIDCIssuerTests {
    func code(_ body: () throws -> Void) -> String? {
        do { try body() } catch let e as VaultError { return OIDCIssuerTests.key(e) } catch { return "other" }
        return nil
    }
    static func key(_ e: VaultError) -> String { e.code.rawValue + (e.context["case"].map { ":" + $0 } ?? "") }

    @Test("OpenBao's own documents: RS256 keys kept with use sig, the EdDSA key left out, a minimal RS256 discovery")
    func publishesBaosDocuments() throws {
        let d = try OIDCIssuer.discovery(Array(BaoSamples.discovery.utf8), from: "bao")
        #expect(d.issuer == "https://issuer.example.com/v1/identity/oidc")
        let keys = try OIDCIssuer.keys(Array(BaoSamples.keys.utf8), from: "bao")
        #expect(keys.count == 3 && keys.filter(\.isRS256).count == 2)
        let p = try OIDCIssuer.publication(discovery: d, keys: keys, jwksURI: nil)
        #expect(p.kept.map(\.kid) == ["f05f7c6e-328f-661b-ab73-431ed7f8b813", "ff8ff328-0335-5d1c-b522-07005ecb93d6"])
        #expect(p.skipped.map(\.key.kid) == ["45193f38-98c8-b3c1-35f3-8457b24c67bb"])
        #expect(p.jwksURI == "https://issuer.example.com/v1/identity/oidc/.well-known/keys")
        // What is written reads back as the same keys, each with use sig and nothing but public members.
        let again = try OIDCIssuer.keys(p.keySet, from: "copy")
        #expect(again.map(\.kid) == p.kept.map(\.kid) && again.allSatisfy { $0.use == "sig" && $0.alg == "RS256" && $0.n == BaoSamples.n })
        let copy = try OIDCIssuer.discovery(p.discovery, from: "copy")
        #expect(copy.issuer == d.issuer && copy.jwksURI == p.jwksURI && copy.algorithms == ["RS256"])
        // A key without `use` gets it; a key with use enc is left out.
        let mixed = try OIDCIssuer.keys(Array(#"{"keys":[{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB"},{"kty":"RSA","kid":"b","use":"enc","n":"AQAB","e":"AQAB"}]}"#.utf8), from: "x")
        let q = try OIDCIssuer.publication(discovery: d, keys: mixed, jwksURI: "https://static.example.com/jwks.json")
        #expect(q.kept.map(\.kid) == ["a"] && q.skipped.first?.why.contains("enc") == true)
        #expect(String(decoding: q.keySet, as: UTF8.self).contains(#""use": "sig""#))
        #expect(String(decoding: q.discovery, as: UTF8.self).contains(#""jwks_uri": "https://static.example.com/jwks.json""#))
    }

    @Test("publish refuses an http issuer, no RS256 key, more than 100, and a jwks URI that is not https")
    func publishRefuses() throws {
        let keys = try OIDCIssuer.keys(Array(BaoSamples.keys.utf8), from: "bao")
        var d = try OIDCIssuer.discovery(Array(BaoSamples.discovery.utf8), from: "bao")
        #expect(code { _ = try OIDCIssuer.publication(discovery: d, keys: keys, jwksURI: "http://x.example.com/k") } == "issuer.url")
        #expect(code { _ = try OIDCIssuer.publication(discovery: d, keys: keys.filter { !$0.isRS256 }, jwksURI: nil) } == "issuer.keys:none")
        let many = (0...100).map { OIDCIssuer.Key(kid: "k\($0)", kty: "RSA", alg: "RS256", use: "sig", n: "AQAB", e: "AQAB") }
        #expect(code { _ = try OIDCIssuer.publication(discovery: d, keys: many, jwksURI: nil) } == "issuer.keys:too_many")
        d.issuer = "http://127.0.0.1:8200/v1/identity/oidc"
        #expect(code { _ = try OIDCIssuer.publication(discovery: d, keys: keys, jwksURI: nil) } == "issuer.url:engine")
    }

    @Test("hostile answers are refused with issuer.response, never a crash")
    func hostileAnswers() {
        let refused: [String] = [
            "", "null", "[]", "{", #"{"keys":{}}"#, #"{"keys":[1]}"#, #"{"keys":[{"kid":"a"}]}"#,
            #"{"keys":[{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB","d":"secret"}]}"#,
            #"{"keys":[{"kty":"RSA","kid":"a"},{"kty":"RSA","kid":"a"}]}"#,
            #"{"keys":[{"kty":"RSA","kid":"a\nb"}]}"#, #"{"keys":[{"kty":"RSA","kid":7}]}"#,
            #"{"keys":[{"kty":"RSA","kid":"a","n":"not base64!"}]}"#, #"{"keys":[],"keys":[]}"#,
            #"{"keys":["# + String(repeating: "[", count: 200) + "]}",
            #"{"keys":[{"kty":"RSA","kid":""# + String(repeating: "k", count: 300) + #""}]}"#,
            #"{"keys":[{"kty":"RSA","kid":"x","n":""# + String(repeating: "A", count: 600 << 10) + #""}]}"#,
        ]
        for body in refused {
            let c = code { _ = try OIDCIssuer.keys(Array(body.utf8), from: "h") }
            #expect(c?.hasPrefix("issuer.response") == true, "\(body.prefix(80)): \(c ?? "accepted")")
        }
        for body in ["", "{}", #"{"issuer":1,"jwks_uri":"https://x"}"#, #"{"issuer":"https://x"}"#, "{\"issuer\":\"" + String(repeating: "x", count: 70_000) + "\"}"] {
            #expect(code { _ = try OIDCIssuer.discovery(Array(body.utf8), from: "h") } == "issuer.response")
        }
        // Random bytes and truncations of a real answer: refused or read, never a trap.
        var g = SystemRandomNumberGenerator()
        let real = Array(BaoSamples.keys.utf8)
        for i in 0..<2000 {
            var b = i % 2 == 0 ? Array(real.prefix(Int.random(in: 0...real.count, using: &g))) : real
            if i % 2 == 1 { b[Int.random(in: 0..<b.count, using: &g)] = UInt8.random(in: 0...255, using: &g) }
            _ = try? OIDCIssuer.keys(b, from: "r")
            _ = try? OIDCIssuer.discovery(b, from: "r")
        }
    }

    @Test("check: a good copy passes; issuer, algorithm, content type, key kinds, 100 keys and a stale copy each fail")
    func checks() throws {
        let url = "https://issuer.example.com/v1/identity/oidc"
        let live = try OIDCIssuer.keys(Array(BaoSamples.keys.utf8), from: "bao")
        let d = try OIDCIssuer.discovery(Array(BaoSamples.discovery.utf8), from: "bao")
        let p = try OIDCIssuer.publication(discovery: d, keys: live, jwksURI: nil)
        let transport = Canned(answers: [
            url + "/.well-known/openid-configuration": HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: p.discovery),
            p.jwksURI: HTTPResponse(status: 200, headers: [("Content-Type", "application/json; charset=utf-8")], body: p.keySet),
        ])
        let (hd, hk, notJSON) = try OIDCIssuer.hosted(url, transport: transport)
        let good = OIDCIssuer.check(url: url, discovery: hd, keys: hk, notJSON: notJSON, live: (d.issuer, live))
        #expect(good.count == 7 && good.allSatisfy { $0.problem == nil }, "\(good.compactMap(\.problem))")
        func problems(_ f: [OIDCIssuer.Finding]) -> [String] { f.compactMap(\.problem).map(Self.key) }
        // A trailing `/` is dropped to fetch (as Entra does), never to compare: the FIC's issuer must be exact.
        let (slashed, _, _) = try OIDCIssuer.hosted(url + "/", transport: transport)
        #expect(problems(OIDCIssuer.check(url: url + "/", discovery: slashed, keys: hk, live: nil)) == ["issuer.mismatch:issuer"])
        #expect(problems(OIDCIssuer.check(url: url, discovery: d, keys: live, notJSON: ["x (text/plain)"], live: nil)) ==
                ["issuer.mismatch:content_type", "issuer.mismatch:keys"])
        let many = (0...100).map { OIDCIssuer.Key(kid: "k\($0)", kty: "RSA", alg: nil, use: nil, n: "AQAB", e: "AQAB") }
        #expect(problems(OIDCIssuer.check(url: url, discovery: hd, keys: many, live: nil)) == ["issuer.mismatch:keys"])
        var noRS = hd
        noRS.algorithms = ["ES256"]
        #expect(problems(OIDCIssuer.check(url: url, discovery: noRS, keys: hk, live: nil)) == ["issuer.mismatch:algorithm"])
        // After a rotation the engine has a key the copy lacks: named, and the engine's other issuer too.
        let rotated = live + [OIDCIssuer.Key(kid: "0110d23b-bdca-afb1-27a3-bebaf01a434b", kty: "RSA", alg: "RS256", use: "sig", n: "AQAB", e: "AQAB")]
        let stale = OIDCIssuer.check(url: url, discovery: hd, keys: hk, live: ("https://other.example.com/v1/identity/oidc", rotated)).compactMap(\.problem)
        #expect(stale.map(Self.key) == ["issuer.mismatch:engine", "issuer.stale"])
        #expect(stale.last?.reason.contains("0110d23b-bdca-afb1-27a3-bebaf01a434b") == true && stale.last?.context["kids"] == "0110d23b-bdca-afb1-27a3-bebaf01a434b")
        // Transport answers: not 200, too large, a jwks_uri that is not https.
        #expect(code { _ = try OIDCIssuer.hosted(url, transport: Canned(answers: [:])) } == "issuer.fetch")
        let huge = Canned(answers: [url + "/.well-known/openid-configuration": HTTPResponse(status: 200, body: Array(repeating: 0x20, count: 70_000))])
        #expect(code { _ = try OIDCIssuer.hosted(url, transport: huge) } == "issuer.response")
        let plain = Canned(answers: [url + "/.well-known/openid-configuration": HTTPResponse(status: 200, body: Array(#"{"issuer":"\#(url)","jwks_uri":"http://x/k"}"#.utf8))])
        #expect(code { _ = try OIDCIssuer.hosted(url, transport: plain) } == "issuer.url:jwks")
    }
}
