import EntraAuth
import FoundationEssentials
import FuzzSupport
import VaultCrypto
import VaultHTTP

/// Fuzzes what the token endpoint can send: the first byte picks the status (200, 400, 401, 429, 503), the rest is the
/// body. Covers the token response parser (lifetimes, `tid`), the Entra error parser (a secret's words and a
/// federated credential's) and the throttling path; and the body read as an external issuer's token (a federated
/// app's token file or a backend's identity token: `ExternalAssertion.parse`).
struct Fixed: HTTPTransport {
    let response: HTTPResponse
    func send(_ request: HTTPRequest) throws -> HTTPResponse { response }
}

struct NoSleep: Sleeper { func sleep(seconds: Double) {} }

let statuses = [200, 400, 401, 429, 503, 200, 404, 500]
let app: AppIdentity = {
    var s = Array("fuzz-secret".utf8)
    return AppIdentity(name: "fuzz", clientID: "22222222-2222-2222-2222-222222222222", tenant: "11111111-1111-1111-1111-111111111111",
                       authorityHost: "https://login.microsoftonline.com", secret: SecretBytes(consuming: &s))
}()

let now = Date(timeIntervalSince1970: 1_800_000_000)

/// A federated app whose token is `body` when it parses as one, else a fixed one.
func federatedApp(_ body: [UInt8]) -> AppIdentity? {
    var raw = body
    guard let assertion = try? ExternalAssertion.parse(SecretBytes(consuming: &raw), origin: "fuzz", now: now) else { return nil }
    precondition(!assertion.issuer.isEmpty && !assertion.subject.isEmpty && !assertion.audience.isEmpty && assertion.expires > now,
                 "an external token accepted without its claims, or expired")
    precondition(assertion.token.count > 0 && assertion.token.count <= body.count)
    return AppIdentity(name: "fuzz", clientID: app.clientID, tenant: app.tenant, authorityHost: app.authorityHost, credential: .assertion(assertion))
}

func harness(_ bytes: [UInt8]) {
    guard let first = bytes.first else { return }
    let body = Array(bytes.dropFirst())
    let response = HTTPResponse(status: statuses[Int(first) % statuses.count],
                                headers: [("Content-Type", "application/json"), ("Retry-After", first & 8 == 0 ? "1" : "120")], body: body)
    var retry = TokenRetryPolicy(maxDelay: 30)
    retry.maxRetries = Int(first >> 6)
    let flow = ClientCredentials(transport: Fixed(response: response), retry: retry, sleeper: NoSleep(), now: { now })
    // The app sends a secret, or (odd first bytes) the body itself as a federated token when it is one.
    let sender = first & 1 == 1 ? federatedApp(body) ?? app : app
    if let token = try? flow.acquire(sender, scope: "https://graph.microsoft.com/.default") {
        precondition(token.expiresOn > token.cachedAt, "a token that expired before it was cached")
        _ = TokenClaims.payload(of: token.secret)
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
            let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiIxMTExMTExMS0xMTExLTExMTEtMTExMS0xMTExMTExMTExMTEiLCJyb2xlcyI6WyJVc2VyLlJlYWQuQWxsIl19.c2ln"
            let bodies: [(UInt8, String)] = [
                (0, #"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"\#(jwt)"}"#),
                (0, #"{"token_type":"Bearer","expires_in":"7200","refresh_in":3600,"access_token":"\#(jwt)"}"#),
                (0, #"{"expires_in":1e300,"access_token":"a.b.c"}"#),
                (0, #"{"expires_in":"9223372036854775807","access_token":"a.b.c"}"#),
                (1, #"{"error":"invalid_scope","error_description":"AADSTS70011: bad.\r\nTrace ID: x","error_codes":[70011],"correlation_id":"c"}"#),
                (2, #"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}"#),
                (3, "Too Many Requests"),
                (4, "<html><body>Service Unavailable</body></html>"),
                (1, #"{"error":"invalid_request","error_description":"AADSTS70021: No matching federated identity record found.","error_codes":[70021]}"#),
                (2, #"{"error":"invalid_client","error_description":"AADSTS7000272: key not found.","error_codes":[7000272]}"#),
                (5, "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2kuZXhhbXBsZSIsInN1YiI6InMiLCJhdWQiOiJhcGk6Ly9BenVyZUFEVG9rZW5FeGNoYW5nZSIsImV4cCI6NDEwMjQ0NDgwMH0."
                    + String(repeating: "A", count: 342) + "\n"),
            ]
            return bodies.enumerated().map { ("seed-\($0.offset)", [$0.element.0] + Array($0.element.1.utf8)) }
        }
    }
}
#endif
