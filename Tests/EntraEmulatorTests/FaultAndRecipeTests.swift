import EmulatorDirectory
import EntraEmulator
import Foundation
import Testing
import VaultCrypto
import VaultErrors
import VaultHTTP
import VaultTestSupport

@Suite("Emulator: fault injection, counters and the request log", .timeLimit(.minutes(3)))
struct FaultTests {
    let emu: EmulatorHarness
    let token: String
    init() throws {
        emu = try EmulatorHarness.start(EmulatorConfig(users: 10))
        token = try emu.accessToken()
    }

    @Test("429 with Retry-After for the next N requests, Graph's envelope; then normal service")
    func throttle() throws {
        try emu.fault("/v1.0/users", "429", count: 2, retryAfter: "2.5")
        for _ in 0..<2 {
            let a = try emu.graph("/v1.0/users", token: token)
            #expect(a.status == 429)
            #expect(a.header("Retry-After") == "2.5")
            #expect(a.errorCode == "TooManyRequests")
            #expect(((a.json["error"] as? [String: Any])?["innerError"] as? [String: Any])?["status"] as? String == "429")
        }
        #expect(try emu.graph("/v1.0/users", token: token).status == 200)
    }

    @Test("503 and 504")
    func unavailable() throws {
        try emu.fault("/v1.0/users", "503", count: 1, retryAfter: "1")
        try emu.fault("/v1.0/users", "504", count: 1)
        let a = try emu.graph("/v1.0/users", token: token)
        #expect(a.status == 503)
        #expect(a.header("Retry-After") == "1")
        #expect(try emu.graph("/v1.0/users", token: token).status == 504)
        #expect(try emu.graph("/v1.0/users", token: token).status == 200)
    }

    @Test("stall: the client times out")
    func stall() throws {
        try emu.fault("/v1.0/users", "stall", count: 1, stallSeconds: 10)
        var options = HTTPOptions(caBundle: emu.caPath)
        options.totalTimeout = 1
        let impatient = try CurlTransport(options: options)
        let error = try #require(throws: VaultError.self) {
            try impatient.send(HTTPRequest(method: "GET", url: emu.base + "/v1.0/users", headers: [("Authorization", "Bearer \(token)")]))
        }
        #expect(error.code == "http.timeout")
    }

    @Test("drop: the connection closes without an answer")
    func drop() throws {
        try emu.fault("/v1.0/users", "drop", count: 1)
        // A fresh connection: on a reused one libcurl itself reconnects once when the server closed it.
        let fresh = try CurlTransport(options: HTTPOptions(caBundle: emu.caPath))
        let error = try #require(throws: VaultError.self) {
            try fresh.send(HTTPRequest(method: "GET", url: emu.base + "/v1.0/users", headers: [("Authorization", "Bearer \(token)")]))
        }
        #expect(error.code == "http.connect")
        #expect(try emu.graph("/v1.0/users", token: token).status == 200)
    }

    @Test("html: a proxy's error page")
    func html() throws {
        try emu.fault("/oauth2/v2.0/token", "html", count: 1)
        let a = try emu.secretToken()
        #expect(a.status == 502)
        #expect(a.header("Content-Type") == "text/html")
    }

    @Test("counters per app, grant and path; a log without secrets or tokens")
    func countersAndLog() throws {
        try emu.admin("POST", "/reset")
        _ = try emu.secretToken()
        _ = try emu.secretToken(secret: "Wrong8Q~x")
        _ = try emu.graph("/v1.0/users?$top=1", token: token)
        let c = try emu.counters()
        #expect((c["token_requests"] as? [String: [String: Int]])?[emu.app.clientID]?["client_credentials"] == 2)
        #expect((c["tokens_issued"] as? [String: Int])?[emu.app.clientID] == 1)
        #expect((c["graph_requests"] as? [String: Int])?["/v1.0/users"] == 1)
        let log = try emu.call("GET", "/_emulator/log").text
        #expect(log.contains("/v1.0/users"))
        #expect(!log.contains(emu.app.secret!))
        #expect(!log.contains(token))
        #expect(!log.contains("Wrong8Q"))
    }

    @Test("expire and revoke secrets through the admin surface")
    func secretControls() throws {
        try emu.admin("POST", "/apps/\(emu.app.clientID)/expire-secret")
        #expect(try emu.secretToken().json["error_codes"] as? [Int] == [7000222])
        try emu.admin("POST", "/apps/\(emu.app.clientID)/revoke-secret")
        #expect(try emu.secretToken().json["error_codes"] as? [Int] == [7000215])
        #expect((try emu.appState()["passwords"] as? [Any])?.isEmpty == true)
    }
}

@Suite("Emulator: synthetic users (docs/emulator.md, section Synthetic users)")
struct RecipeTests {
    let users = SyntheticUsers.generate(seed: "recipe", count: 2000, domain: "contoso.onmicrosoft.com")

    @Test("deterministic from (seed, count, domain); another seed gives other users")
    func deterministic() {
        let again = SyntheticUsers.generate(seed: "recipe", count: 2000, domain: "contoso.onmicrosoft.com")
        #expect(users.map(\.id) == again.map(\.id))
        #expect(users.map(\.userPrincipalName) == again.map(\.userPrincipalName))
        let other = SyntheticUsers.generate(seed: "other", count: 2000, domain: "contoso.onmicrosoft.com")
        #expect(users[10].id != other[10].id)
        #expect(Set(users.map(\.id)).count == 2000)
        #expect(Set(users.map { $0.userPrincipalName.lowercased() }).count == 2000, "nicknames are made unique")
    }

    @Test("the fixed records 0–2")
    func fixed() {
        #expect(users[0].displayName == "MOD Administrator")
        #expect(users[0].userPrincipalName == "admin@contoso.onmicrosoft.com")
        #expect(users[0].mail == nil)
        #expect(users[0].businessPhones == ["425-555-0100"])
        #expect(users[1].mail == "Adams@contoso.onmicrosoft.com")
        #expect(users[1].givenName == nil && users[1].jobTitle == nil)
        #expect(users[2].userPrincipalName == "$svc-backup@contoso.onmicrosoft.com")
        #expect(users[0...2].allSatisfy { $0.userType == "Member" && $0.accountEnabled && $0.department == nil })
    }

    @Test("ids are version-4-shaped UUIDs from SHA-256(seed:i)")
    func ids() throws {
        for u in users.prefix(50) {
            let parts = u.id.split(separator: "-")
            #expect(parts.map(\.count) == [8, 4, 4, 4, 12])
            #expect(parts[2].first == "4")
            #expect("89ab".contains(parts[3].first!))
        }
    }

    @Test("guests: record 3 and every 20th after it, with #EXT# UPNs and external mail")
    func guests() {
        let guests = users.enumerated().filter { $0.element.userType == "Guest" }
        #expect(guests.map(\.offset) == Array(stride(from: 3, to: 2000, by: 20)))
        for (_, g) in guests {
            #expect(g.userPrincipalName.contains("#EXT#@contoso.onmicrosoft.com"))
            #expect(g.mailNickname?.hasSuffix("#EXT#") == true)
            #expect(g.mail?.hasSuffix("@contoso.onmicrosoft.com") == false)
        }
    }

    @Test("nulls in the documented proportions")
    func proportions() {
        let generated = users.dropFirst(3)
        func share(_ p: (DirectoryUser) -> Bool) -> Double { Double(generated.filter(p).count) / Double(generated.count) }
        #expect(abs(share { $0.jobTitle == nil } - 0.20) < 0.04)
        #expect(abs(share { $0.officeLocation == nil } - 0.30) < 0.04)
        #expect(abs(share { $0.businessPhones.isEmpty } - 0.25) < 0.04)
        #expect(abs(share { $0.mobilePhone == nil } - 0.50) < 0.05)
        #expect(abs(share { !$0.accountEnabled } - 0.05) < 0.02)
        #expect(generated.allSatisfy { $0.displayName == "\($0.givenName!) \($0.surname!)" })
        #expect(generated.allSatisfy { $0.createdDateTime!.hasPrefix("202") && $0.createdDateTime!.hasSuffix("Z") })
    }
}

@Suite("Emulator: the in-process library")
struct InProcessTests {
    // The in-process server shares the cooperative pool with every test running at once (sync tests that wait on
    // processes hold its threads on 2 cores): the limit is for a hang, not for a busy machine.
    @Test("start on a free port, answer over HTTPS, write emulator.json (0600), stop", .timeLimit(.minutes(8)))
    func inProcess() async throws {
        let dir = TemporaryDirectory("inproc")
        let running = try await Emulator.start(config: EmulatorConfig(users: 5), options: EmulatorOptions(port: 0, stateDirectory: dir.path))
        #expect(running.port > 0)
        let attributes = try FileManager.default.attributesOfItem(atPath: dir.file("emulator.json"))
        #expect(attributes[.posixPermissions] as? Int == 0o600)
        let info = running.info
        // libcurl blocks: run it on a plain thread so the server's tasks keep the cooperative pool.
        let status: Int = try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                do {
                    let t = try CurlTransport(options: HTTPOptions(caBundle: info.ca))
                    let r = try t.send(HTTPRequest(method: "GET", url: info.authorityHost + "/\(info.tenantID)/v2.0/.well-known/openid-configuration"))
                    continuation.resume(returning: r.status)
                } catch { continuation.resume(throwing: error) }
            }
        }
        #expect(status == 200)
        await running.stop()
    }
}
