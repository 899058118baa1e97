import FoundationEssentials
import FuzzSupport
import Graph
import VaultCrypto
import VaultHTTP
import VaultJSON

/// Fuzzes what Graph can send: the first byte picks the status (200, 400, 401, 403, 404, 429, 503) and which
/// request reads it; the rest is the body. Covers the page scanner, string unescaping, compaction, the error
/// envelope, and the application / addPassword / federated identity credential response parsers.
struct Fixed: HTTPTransport {
    let response: HTTPResponse
    func send(_ request: HTTPRequest) throws -> HTTPResponse { response }
}

struct StaticToken: AccessTokenSource { func accessToken(rejecting: String?) throws -> String { "t" } }
struct NoSleep: Sleeper { func sleep(seconds: Double) {} }

let statuses = [200, 200, 200, 400, 401, 403, 404, 429, 503]

func harness(_ bytes: [UInt8]) {
    guard let first = bytes.first else { return }
    let body = Array(bytes.dropFirst())
    // 1. A page as `run users` streams it: items, nextLink, every member's string value, compaction.
    if let page = try? GraphPage(body: body) {
        for i in page.items.indices.prefix(64) {
            let item = Array(page.item(i))
            if let members = try? JSONScan.members(item) {
                for r in members.values where !r.isEmpty { _ = JSONScan.string(item, r) }
            }
            if JSONScan.hasLooseWhitespace(item[...]) { _ = JSONScan.compact(item[...]) }
            // The report's reader: items split from the page validated once.
            _ = try? DirectoryCredentials.holder(.application, page: page, item: i)
        }
    }
    // 2. The same bytes as an answer to a request: the error envelope, or an application / addPassword response.
    var retry = GraphRetryPolicy()
    retry.maxRetries = 0
    let response = HTTPResponse(status: statuses[Int(first) % statuses.count], headers: [("Retry-After", "1")], body: body)
    let client = GraphClient(root: "https://graph.microsoft.com", transport: Fixed(response: response), tokens: StaticToken(),
                             retry: retry, sleeper: NoSleep())
    let apps = Applications(client: client)
    switch first >> 6 {
    case 0: _ = try? apps.passwords(appID: "22222222-2222-2222-2222-222222222222")
    case 1: _ = try? apps.addPassword(appID: "22222222-2222-2222-2222-222222222222", displayName: "fuzz", end: Date(timeIntervalSince1970: 1_900_000_000))
    case 2: _ = try? apps.removePassword(appID: "22222222-2222-2222-2222-222222222222", keyID: "33333333-3333-3333-3333-333333333333")
    default: _ = try? client.pages(client.url("/v1.0/users"), max: 10) { _, _ in }
    }
    // 3. The same answer to the federated identity credential calls (`vault federate`, `vault status`).
    switch first & 3 {
    case 0: _ = try? apps.federatedCredentials(appID: "22222222-2222-2222-2222-222222222222")
    case 1: _ = try? apps.federatedCredential(appID: "22222222-2222-2222-2222-222222222222", name: "vault-20261207-abcdef12")
    case 2: _ = try? apps.addFederatedCredential(appID: "22222222-2222-2222-2222-222222222222",
                                                 FederatedIdentityCredential(name: "fuzz", issuer: "https://i.example", subject: "s", audiences: ["api://AzureADTokenExchange"]))
    default: _ = try? apps.removeFederatedCredential(appID: "22222222-2222-2222-2222-222222222222", idOrName: "fuzz")
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
                (0xc0, #"{"@odata.context":"x","@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$skiptoken=a","value":[{"businessPhones":[],"displayName":"Adele \u00e9 \uD83D\uDE00","id":"1"},{"displayName":"bad \uD83D\u0041","id":"2"}]}"#),
                (0xc0, #"{"value":[{"a":[[[[[[[[[[1]]]]]]]]]]}],"@odata.count":2}"#),
                (0x00, #"{"id":"o","passwordCredentials":[{"customKeyIdentifier":null,"displayName":"vault","endDateTime":"2027-01-01T00:00:00Z","hint":"abc","keyId":"33333333-3333-3333-3333-333333333333","secretText":null,"startDateTime":"2026-01-01T00:00:00.1234567Z"}]}"#),
                (0x40, #"{"customKeyIdentifier":null,"displayName":"vault","endDateTime":"2027-01-01T00:00:00Z","hint":"abc","keyId":"44444444-4444-4444-4444-444444444444","secretText":"abc8Q~0123456789012345678901234567890123","startDateTime":"2026-01-01T00:00:00Z"}"#),
                (0x83, #"{"error":{"code":"Request_BadRequest","message":"No password credential found with keyId 33333333-3333-3333-3333-333333333333.","innerError":{"date":"2026-01-01T00:00:00","request-id":"r","client-request-id":"c"}}}"#),
                (0x05, #"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}"#),
                (0x07, #"{"error":{"code":"TooManyRequests","message":"Please retry again later."}}"#),
                (0x00, "<html>proxy</html>"),
            ]
            return seeds.enumerated().map { ("seed-\($0.offset)", [$0.element.0] + Array($0.element.1.utf8)) }
        }
    }
}
#endif
