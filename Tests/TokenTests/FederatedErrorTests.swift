import EntraAuth
import Foundation
import Testing
import VaultCLI
import VaultCrypto
import VaultErrors
import VaultHTTP

/// Entra's answers to a federated credential, as vault words them: each AADSTS code its own code, exit status and
/// hint; and AADSTS70021 (a credential still propagating) retried with bounded pauses.
@Suite("federated credentials: Entra's answers and their words")
struct FederatedErrorTests {
    static func answer(_ status: Int, _ error: String, _ code: Int) -> HTTPResponse {
        let body = #"{"error":"\#(error)","error_description":"AADSTS\#(code): something.\r\nTrace ID: t","error_codes":[\#(code)],"correlation_id":"c0ffee00-0000-0000-0000-000000000000"}"#
        return HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: Array(body.utf8))
    }

    @Test("each code maps to its error and words", arguments: [
        (400, "invalid_request", 70021, "entra.federated_no_match", Int32(77), "propagate"),
        (401, "invalid_client", 700211, "entra.federated_issuer", Int32(77), "iss exactly"),
        (401, "invalid_client", 700024, "entra.assertion_time", Int32(78), "refreshes it"),
        (400, "invalid_request", 50166, "entra.federated_discovery", Int32(69), "openid-configuration"),
        (400, "invalid_request", 90061, "entra.federated_discovery", Int32(69), "application/json"),
        (401, "invalid_client", 7000272, "entra.federated_key", Int32(69), "static mirror"),
        (401, "invalid_client", 700027, "entra.federated_signature", Int32(77), "RS256"),
    ])
    func words(_ status: Int, _ error: String, _ code: Int, _ vaultCode: String, _ exit: Int32, _ hintWords: String) {
        var e = EntraErrors.map(Self.answer(status, error, code), app: "fed", clientID: "c", tenant: "t", scope: "s/.default", credential: "federated")
        e.context["issuer"] = "https://issuer.example/oidc"
        e.context["subject"] = "system:serviceaccount:ns:sa"
        #expect(e.code.rawValue == vaultCode)
        #expect(e.context["aadsts"] == String(code))
        #expect(e.reason.contains("AADSTS\(code)") && e.reason.contains("'fed'") && e.reason.contains("correlation id c0ffee00"))
        #expect(ErrorWords.words(e).known, "\(vaultCode) has its own words")
        #expect(ErrorWords.exitStatus(e) == exit)
        let hint = ErrorWords.hint(e) ?? ""
        #expect(hint.contains(hintWords), "\(hint)")
        // The same answers to a certificate keep the certificate's words.
        let cert = EntraErrors.map(Self.answer(status, error, code), app: "fed", clientID: "c", tenant: "t", scope: "s/.default", credential: "certificate")
        #expect(!cert.code.rawValue.hasPrefix("entra.federated"))
    }

    /// A transport that answers AADSTS70021 `failures` times, then a token; it counts the requests.
    final class Propagating: HTTPTransport, @unchecked Sendable {
        let lock = NSLock()
        var failures: Int
        var requests = 0
        init(failures: Int) { self.failures = failures }
        func send(_ request: HTTPRequest) throws -> HTTPResponse {
            lock.withLock {
                requests += 1
                if requests <= failures { return FederatedErrorTests.answer(400, "invalid_request", 70021) }
                return HTTPResponse(status: 200, body: Array(#"{"access_token":"at","token_type":"Bearer","expires_in":3600}"#.utf8))
            }
        }
    }

    final class Pauses: Sleeper, @unchecked Sendable {
        let lock = NSLock()
        var slept: [Double] = []
        func sleep(seconds: Double) { lock.withLock { slept.append(seconds) } }
    }

    func app(expires: Double = 4102444800) throws -> AppIdentity {
        func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "") }
        var token = Array((b64(#"{"alg":"RS256"}"#) + "." + b64(#"{"iss":"https://i.example","sub":"s","aud":"api://AzureADTokenExchange","exp":\#(Int(expires))}"#) + "." + String(repeating: "A", count: 342)).utf8)
        let assertion = try ExternalAssertion.parse(SecretBytes(consuming: &token), origin: "test", now: Date())
        return AppIdentity(name: "fed", clientID: "11111111-1111-1111-1111-111111111111", tenant: "22222222-2222-2222-2222-222222222222",
                           authorityHost: "https://login.example", credential: .assertion(assertion))
    }

    @Test("AADSTS70021 is retried with pauses of 2, 4, 8, 16 and 30 s (60 s in all), then given up; --max-wait caps each")
    func propagationRetries() throws {
        let transport = Propagating(failures: 3)
        let pauses = Pauses()
        let token = try ClientCredentials(transport: transport, sleeper: pauses).acquire(try app(), scope: "https://graph.microsoft.com/.default")
        #expect(token.secret == "at" && transport.requests == 4 && pauses.slept == [2, 4, 8])

        let never = Propagating(failures: 100), all = Pauses()
        #expect(throws: VaultError.self) { try ClientCredentials(transport: never, sleeper: all).acquire(try app(), scope: "https://graph.microsoft.com/.default") }
        #expect(never.requests == 6 && all.slept == [2, 4, 8, 16, 30] && all.slept.reduce(0, +) == 60)

        let capped = Propagating(failures: 100), short = Pauses()
        #expect(throws: VaultError.self) {
            try ClientCredentials(transport: capped, retry: TokenRetryPolicy(maxDelay: 0), sleeper: short).acquire(try app(), scope: "https://graph.microsoft.com/.default")
        }
        #expect(capped.requests == 1 && short.slept.isEmpty, "--max-wait 0: no pause, no retry")

        // A token that would expire during the next pause is not sent again.
        let expiring = Propagating(failures: 100), brief = Pauses()
        #expect(throws: VaultError.self) {
            try ClientCredentials(transport: expiring, sleeper: brief).acquire(try app(expires: Date().timeIntervalSince1970 + 3), scope: "https://graph.microsoft.com/.default")
        }
        #expect(expiring.requests == 2 && brief.slept == [2])
    }
}
