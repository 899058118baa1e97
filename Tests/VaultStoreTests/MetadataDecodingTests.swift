import Foundation
import Testing
import VaultStore
import VaultFormat
import VaultRecords

/// The fast metadata decoder (used when thousands of apps are listed) answers for everything vault writes, and
/// whenever it answers on any input, it answers what JSONDecoder does.
@Suite("app metadata: fast decoding agrees with JSONDecoder")
struct MetadataDecodingTests {
    static func full() -> AppMetadata {
        var m = AppMetadata(name: "Zürich-应用 🚀 \"quoted\" back\\slash", tenant: "contoso.onmicrosoft.com",
                            clientID: "22222222-2222-2222-2222-222222222222", cloud: "usgov", authority: "https://127.0.0.1:8443",
                            secretHint: "Ab8", added: Date(timeIntervalSince1970: 1_767_225_600))
        m.graphRoot = "https://127.0.0.1:8443/graph"
        m.rotated = Date(timeIntervalSince1970: 1_800_000_000)
        m.secretKeyID = "k1"; m.secretExpires = Date(timeIntervalSince1970: 1_900_000_000); m.previousKeyID = "k0"
        m.tenantID = "11111111-1111-1111-1111-111111111111"; m.scope = "api://x/.default"
        m.certificate = "MIIB+/=="; m.certificateChain = ["QQ==", "Qg=="]; m.certificateSHA1 = "AB"; m.certificateSHA256 = "CD"
        m.certificateExpires = Date(timeIntervalSince1970: 2_000_000_000); m.certificateSubject = "CN=a\"b,O=c/d\te"
        m.certificateKeyID = "ck"; m.credentialUse = "secret"; m.assertionAlgorithm = "RS256"; m.sendX5C = true
        return m
    }

    /// A federated app as `add-app --federated` writes it: no secret hint, the token's source.
    static func federated() -> AppMetadata {
        var m = AppMetadata(name: "fed", tenant: "t", clientID: "c", cloud: "global", authority: nil, secretHint: "", added: Date(timeIntervalSince1970: 0))
        m.federated = "backend:bao/azure-\"role\""
        return m
    }

    @Test("what vault writes is decoded by the fast path, to the same value", arguments: [
        full(), federated(),
        AppMetadata(name: "demo", tenant: "t", clientID: "c", cloud: "global", authority: nil, secretHint: "", added: Date(timeIntervalSince1970: 0)),
    ])
    func written(_ meta: AppMetadata) throws {
        let bytes = Array(try VaultContents.encoder.encode(meta))
        let (fast, reference) = VaultContents.metadataDecodings(bytes)
        #expect(fast != nil, "the fast path gave up on vault's own output: \(String(decoding: bytes, as: UTF8.self))")
        #expect(fast == reference)
        #expect(fast == meta)
    }

    @Test("dates are written as whole Unix seconds (FORMAT.md §4; the fraction is dropped), and read back as written")
    func wholeSeconds() throws {
        let meta = AppMetadata(name: "d", tenant: "t", clientID: "c", cloud: "global", authority: nil, secretHint: "",
                               added: Date(timeIntervalSince1970: 1_767_225_600.75))
        let text = String(decoding: try VaultContents.encoder.encode(meta), as: UTF8.self)
        #expect(text.contains(#""added":1767225600,"#) || text.contains(#""added":1767225600}"#), "\(text)")
        #expect(VaultContents.metadataDecodings(Array(text.utf8)).0?.added == Date(timeIntervalSince1970: 1_767_225_600))
    }

    static let base = #""added":1,"client_id":"c","cloud":"global","name":"n","secret_hint":"h","tenant":"t""#

    @Test("other inputs: the fast path gives up or agrees", arguments: [
        "{\(base)}", "{\(base),\"scope\":null}", "{\(base),\"scope\":5}", "{\(base),\"name\":\"dup\"}",
        "{\(base),\"rotated\":01}", "{\(base),\"rotated\":1.}", "{\(base),\"rotated\":+1}", "{\(base),\"rotated\":-0.5e3}",
        "{\(base),\"rotated\":1e400}", "{\(base),\"extra\":{\"a\":1}}", "{\(base),\"extra\":[1,2]}", "{\(base),\"extra\":true}",
        "{\(base),\"certificate_chain\":[]}", "{\(base),\"certificate_chain\":[\"a\",1]}", "{\(base),\"send_x5c\":1}",
        "{\(base),\"scope\":\"\\ud800\"}", "{\(base),\"scope\":\"\\udc00x\"}", "{\(base),\"scope\":\"\\ud83d\\ude80\"}",
        "{\(base),\"scope\":\"\\u00e9\\/\\b\\f\\n\\r\\t\"}", "{\(base),\"scope\":\"\\x\"}", "{\(base)} x", " {\(base)} ",
        "{\(base),}", "{}", "[]", "", "{\"added\":\"1\",\"client_id\":\"c\",\"cloud\":\"g\",\"name\":\"n\",\"secret_hint\":\"h\",\"tenant\":\"t\"}",
        "{\(base),\"scope\":\"tab\there\"}",
    ])
    func other(_ text: String) {
        let (fast, reference) = VaultContents.metadataDecodings(Array(text.utf8))
        if let fast { #expect(fast == reference, "\(text)") }
    }

    @Test("invalid UTF-8 inside a string: no answer from either")
    func invalidUTF8() {
        let bytes = Array("{\(Self.base),\"scope\":\"".utf8) + [0xff, 0xfe] + Array("\"}".utf8)
        let (fast, reference) = VaultContents.metadataDecodings(bytes)
        #expect(fast == nil)
        #expect(reference == nil)
    }
}

extension AppMetadata: CustomTestStringConvertible {
    public var testDescription: String { name }
}
