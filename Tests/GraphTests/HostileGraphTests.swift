import Foundation
import Graph
import VaultErrors
import VaultJSON
import Testing
import VaultCrypto
import VaultHTTP

/// Regression tests for Graph answers that used to trap or loop.
@Suite("hostile Graph answers")
struct HostileGraphTests {
    @Test("broken surrogate pairs decode to U+FFFD instead of trapping", arguments: [
        (#""\uD83D\u0041""#, "\u{FFFD}A"), (#""\uD83D""#, "\u{FFFD}"), (#""\uDC00x""#, "\u{FFFD}x"),
        (#""\uD83D\uDE00""#, "😀"), (#""\uD83D\uD83D""#, "\u{FFFD}\u{FFFD}"),
    ])
    func surrogates(_ json: String, _ expected: String) {
        let bytes = Array(json.utf8)
        #expect(JSONScan.string(bytes, 0..<bytes.count) == expected)
    }

    @Test("a \\u escape with non-hex digits is not a string", arguments: [#""\u+123""#, #""\u-123""#, #""\u12""#])
    func badEscapes(_ json: String) {
        let bytes = Array(json.utf8)
        #expect(JSONScan.string(bytes, 0..<bytes.count) == nil)
    }

    @Test("an object key that is not a string is malformed")
    func keyNotString() {
        #expect(throws: (any Error).self) { try JSONScan.members(Array(#"{a":1}"#.utf8)) }
    }

    /// Serves the same page (with a nextLink to itself) forever.
    struct LoopingGraph: HTTPTransport {
        func send(_ request: HTTPRequest) throws -> HTTPResponse {
            HTTPResponse(status: 200, body: Array(#"{"value":[{"id":"1"}],"@odata.nextLink":"https://graph.example/v1.0/users?$skiptoken=same"}"#.utf8))
        }
    }

    struct StaticToken: AccessTokenSource { func accessToken(rejecting: String?) throws -> String { "t" } }

    @Test("a nextLink that repeats an earlier page is an error, not an endless loop")
    func nextLinkLoop() throws {
        let client = GraphClient(root: "https://graph.example", transport: LoopingGraph(), tokens: StaticToken())
        var pages = 0
        #expect {
            try client.pages(client.url("/v1.0/users")) { _, _ in pages += 1 }
        } throws: { error in
            (error as? VaultError)?.code == "graph.paging"
        }
        #expect(pages == 2)
    }
}
