import Foundation
import FleetBackend
import Synchronization
import Testing
import VaultCrypto
import VaultErrors
import VaultHTTP

/// A backend that answers from a script, recording what it was asked.
final class ScriptedBackend: HTTPTransport {
    let answers: @Sendable (HTTPRequest) -> HTTPResponse
    let asked = Mutex<[(method: String, url: String, token: String?)]>([])
    init(_ answers: @escaping @Sendable (HTTPRequest) -> HTTPResponse) { self.answers = answers }
    func send(_ request: HTTPRequest) throws -> HTTPResponse {
        asked.withLock { $0.append((request.method, request.url, request.headers.first { $0.0 == "X-Vault-Token" }?.1)) }
        return answers(request)
    }
}

@Suite("fleet backend: identity tokens for federated credentials")
struct IdentityTokenTests {
    func client(_ backend: ScriptedBackend) -> KVClient {
        var t = Array("hvs.login-token".utf8)
        return KVClient(config: BackendConfig(addresses: ["http://127.0.0.1:8200"]), transport: backend, auth: .token(SecretBytes(consuming: &t)),
                        electionWaits: [])
    }

    @Test("GET /v1/identity/oidc/token/ROLE with the login token; data.token comes back in secret memory")
    func issued() throws {
        let backend = ScriptedBackend { _ in
            HTTPResponse(status: 200, headers: [("Content-Type", "application/json")],
                         body: Array(#"{"request_id":"r","data":{"client_id":"api://AzureADTokenExchange","token":"eyJh.eyJp.c2ln","ttl":3600}}"#.utf8))
        }
        let token = try client(backend).identityToken(role: "azure")
        #expect(token.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } == "eyJh.eyJp.c2ln")
        let asked = backend.asked.withLock { $0 }
        #expect(asked.count == 1 && asked[0].method == "GET" && asked[0].url == "http://127.0.0.1:8200/v1/identity/oidc/token/azure")
        #expect(asked[0].token == "hvs.login-token")
    }

    @Test("an unknown role, a policy that denies it, an answer without a token: each its own error", arguments: [
        (400, #"{"errors":["role \"azure\" not found"]}"#, "backend.identity_role"),
        (403, #"{"errors":["permission denied"]}"#, "backend.forbidden"),
        (200, #"{"data":{}}"#, "backend.response"),
        (200, #"{"data":{"token":""}}"#, "backend.response"),
        (200, #"{"data":{"token":5}}"#, "backend.response"),
        (200, #"{"data":{"token":"a\u0000b"}}"#, "backend.response"),
        (200, #"{"data":"#, "backend.response"),
    ])
    func refused(_ status: Int, _ body: String, _ code: String) throws {
        let backend = ScriptedBackend { _ in HTTPResponse(status: status, body: Array(body.utf8)) }
        do {
            _ = try client(backend).identityToken(role: "azure")
            Issue.record("accepted")
        } catch let e as VaultError {
            #expect(e.code.rawValue == code, "\(e.reason)")
        }
    }
}
