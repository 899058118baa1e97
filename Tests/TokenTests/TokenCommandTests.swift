import EntraEmulator
import Foundation
import Testing
import VaultTestSupport

/// `vault token` as a process against vault-emulator over HTTPS.
@Suite("vault token against the emulator", .timeLimit(.minutes(5)))
struct TokenCommandTests {
    func json(_ r: RunResult) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any], "\(r.stdout) \(r.stderr)")
    }

    @Test("first run asks Entra ID once; the second is a cache hit with no request")
    func cacheHit() throws {
        let emu = try EmulatorHarness.start()
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        let first = try v.run(["token", "demo", "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try json(first)["token_source"] as? String == "identity_provider")
        #expect(try emu.tokenRequests() == 1)
        let second = try v.run(["token", "demo", "--json"])
        #expect(try json(second)["token_source"] as? String == "cache")
        #expect(try json(second)["access_token"] as? String == json(first)["access_token"] as? String)
        #expect(try emu.tokenRequests() == 1, "a cache hit must not reach Entra ID")
        let bare = try v.run(["token", "demo"])
        #expect(bare.stdout == (try json(first)["access_token"] as! String) + "\n")
        #expect(try json(first)["token_type"] as? String == "Bearer")
        #expect(try json(first)["scope"] as? String == "https://graph.microsoft.com/.default")
        #expect(try emu.tokenRequests() == 1)
    }

    @Test("a token with 5 minutes or less left is not used: every run fetches")
    func expiryBuffer() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(tokenLifetime: 299, users: 10))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        #expect(try v.run(["token", "demo"]).status == 0)
        #expect(try v.run(["token", "demo"]).status == 0)
        #expect(try emu.tokenRequests() == 2)
        try emu.admin("POST", "/settings", ["token_lifetime": 330])
        #expect(try v.run(["token", "demo"]).status == 0)
        let hit = try v.run(["token", "demo", "--json"])
        #expect(try json(hit)["token_source"] as? String == "cache", "330 s left is more than the 300 s buffer")
        #expect(try emu.tokenRequests() == 3)
    }

    @Test("past refresh_on a new token is fetched; if that fails the still-valid one is used")
    func refreshOn() throws {
        let emu = try EmulatorHarness.start()
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        let first = try json(try v.run(["token", "demo", "--json"]))
        // Make the cached entry due for refresh: export, move refresh_on into the past, import back.
        let export = v.dir.file("cache.json")
        #expect(try v.run(["cache", "export", "--format", "msal", export]).status == 0)
        var cache = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: export))) as? [String: Any])
        var tokens = try #require(cache["AccessToken"] as? [String: [String: Any]])
        let key = try #require(tokens.keys.first)
        tokens[key]!["refresh_on"] = String(Int(Date().timeIntervalSince1970) - 10)
        cache["AccessToken"] = tokens
        try JSONSerialization.data(withJSONObject: cache).write(to: URL(fileURLWithPath: export))
        #expect(try v.run(["cache", "import", export]).status == 0)

        try emu.fault("/oauth2/v2.0/token", "503", count: 10)
        let kept = try v.run(["token", "demo", "--json"])
        #expect(kept.status == 0, "\(kept.stderr)")
        #expect(try json(kept)["access_token"] as? String == first["access_token"] as? String)
        #expect(try json(kept)["token_source"] as? String == "cache")
        #expect(kept.stderr.contains("vault: warning: refreshing the token failed"))
        #expect(try emu.tokenEndpointHits(status: 503) == 4, "one refresh attempt with 3 retries")
        #expect(try emu.tokenRequests() == 1)

        try emu.admin("DELETE", "/faults")
        let refreshed = try v.run(["token", "demo", "--json"])
        #expect(try json(refreshed)["token_source"] as? String == "identity_provider")
        #expect(try json(refreshed)["access_token"] as? String != first["access_token"] as? String)
    }

    struct EntraCase: Sendable, CustomTestStringConvertible {
        var label: String
        var code: String
        var message: String
        var hint: String
        var status: Int32
        var testDescription: String { label }
    }

    static let entraCases: [EntraCase] = [
        EntraCase(label: "wrong secret", code: "7000215", message: "Entra ID rejected the client secret of app 'demo' (AADSTS7000215, correlation id ",
                  hint: "vault: hint: the stored secret is wrong", status: 77),
        EntraCase(label: "expired secret", code: "7000222", message: "the client secret of app 'demo' has expired (AADSTS7000222",
                  hint: "vault: hint: create a new secret", status: 77),
        EntraCase(label: "unknown app", code: "700016", message: "Entra ID does not know an app with client id 99999999-9999-9999-9999-999999999999",
                  hint: "vault: hint: check --client-id and --tenant", status: 78),
        EntraCase(label: "unknown tenant", code: "90002", message: "tenant 'fabrikam.onmicrosoft.com' does not exist in this cloud (AADSTS90002",
                  hint: "vault: hint: check --tenant", status: 78),
        EntraCase(label: "malformed scope", code: "70011", message: "Entra ID refused the scope 'https://graph.microsoft.com/{x}/.default' (AADSTS70011",
                  hint: "vault: hint: app-only tokens need exactly one scope", status: 64),
    ]

    @Test("each AADSTS error: its message, hint, exit code, and the vault unchanged", arguments: entraCases)
    func entraErrors(_ c: EntraCase) throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 10))
        defer { emu.stop() }
        let v: EmulatorVault
        var args = ["token", "demo"]
        switch c.code {
        case "7000215": v = try EmulatorVault(emulator: emu, secret: "Wrong8Q~not-the-secret")
        case "700016": v = try EmulatorVault(emulator: emu, clientID: "99999999-9999-9999-9999-999999999999")
        case "90002": v = try EmulatorVault(emulator: emu, tenant: "fabrikam.onmicrosoft.com")
        case "70011":
            v = try EmulatorVault(emulator: emu)
            args += ["--scope", "https://graph.microsoft.com/{x}/.default"]
        default:
            v = try EmulatorVault(emulator: emu)
            try emu.admin("POST", "/apps/\(emu.app.clientID)/expire-secret")
        }
        let before = v.dir.snapshot("vault")
        let r = try v.run(args, env: ["VAULT_CA_BUNDLE": emu.caPath])
        #expect(r.status == c.status, "\(r.stderr)")
        #expect(r.stderr.contains("vault: error: " + c.message), "\(r.stderr)")
        #expect(r.stderr.contains(c.hint), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
        #expect(v.dir.snapshot("vault").filter { $0.key != "tokens.lock" } == before.filter { $0.key != "tokens.lock" })
        #expect(try emu.tokenEndpointHits() == 1, "4xx errors are never retried")
    }

    @Test("a scope without /.default is refused before any request")
    func scopeValidation() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 10))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        let r = try v.run(["token", "demo", "--scope", "User.Read.All"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("vault: error: invalid scope 'User.Read.All'"))
        #expect(try emu.tokenRequests() == 0)
    }

    @Test("429 with Retry-After, then success")
    func throttledThenOK() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 10))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        try emu.fault("/oauth2/v2.0/token", "429", count: 1, retryAfter: "1")
        let r = try v.run(["token", "demo", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try json(r)["token_source"] as? String == "identity_provider")
        #expect(try emu.tokenRequests() == 1, "the throttled request never reached the token handler")
        let log = try emu.admin("GET", "/log")["requests"] as? [[String: Any]] ?? []
        #expect(log.filter { ($0["path"] as? String)?.hasSuffix("/token") == true }.map { $0["status"] as? Int } == [429, 200])
    }

    @Test("503 until retries are exhausted: a clear error after 4 attempts")
    func unavailable() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 10))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        try emu.fault("/oauth2/v2.0/token", "503", count: 10)
        let r = try v.run(["token", "demo"])
        #expect(r.status == 75)
        #expect(r.stderr.contains("after 4 attempts"), "\(r.stderr)")
        let log = try emu.admin("GET", "/log")["requests"] as? [[String: Any]] ?? []
        #expect(log.filter { $0["status"] as? Int == 503 }.count == 4)
    }

    @Test("a stalled server: a timeout error, not a hang")
    func stalled() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 10))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        try emu.fault("/oauth2/v2.0/token", "stall", count: 1, stallSeconds: 20)
        let r = try v.run(["token", "demo", "--timeout", "1"])
        #expect(r.status == 75)
        #expect(r.stderr.contains("vault: error: no answer from \(emu.base) within 1 s"), "\(r.stderr)")
    }

    @Test("an HTML error page from a proxy: a clear error, not a parse crash")
    func htmlBody() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 10))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        try emu.fault("/oauth2/v2.0/token", "html", count: 10)
        let r = try v.run(["token", "demo"])
        #expect(r.status == 75, "a 502 is retried, then reported")
        #expect(r.stderr.contains("Entra ID answered HTTP 502 with a body that is not an OAuth error (text/html) after 4 attempts"), "\(r.stderr)")
        #expect(r.stderr.contains("vault: hint: a proxy"))
    }

    @Test("32 processes on an empty cache: exactly one token request, one token for all")
    func singleFlight() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 10))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        let outputs = (0..<32).map { v.dir.file("out\($0)") }
        let processes = try outputs.map { path -> Process in
            #expect(FileManager.default.createFile(atPath: path, contents: nil))
            return try VaultRunner.start(["token", "demo"], environment: v.environment, stdout: FileHandle(forWritingAtPath: path))
        }
        for p in processes { p.waitUntilExit() }
        #expect(processes.allSatisfy { $0.terminationStatus == 0 })
        let tokens = Set(outputs.map { String(decoding: FileManager.default.contents(atPath: $0) ?? Data(), as: UTF8.self) })
        #expect(tokens.count == 1)
        #expect(tokens.first?.hasPrefix("eyJ") == true)
        #expect(try emu.tokenRequests() == 1)
    }

    @Test("the most verbose log shows requests with every secret and token redacted")
    func redactedLogs() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 10))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        let r = try v.run(["token", "demo", "-vv"])
        #expect(r.status == 0)
        let token = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let secret = try #require(emu.app.secret)
        #expect(r.stderr.contains("POST \(emu.base)/\(emu.info.tenantID)/oauth2/v2.0/token"))
        #expect(r.stderr.contains("client_secret=[REDACTED]"))
        #expect(r.stderr.contains("\"access_token\":\"[REDACTED]\""))
        #expect(!r.stderr.contains(secret))
        #expect(!r.stderr.contains(String(secret.prefix(12))))
        #expect(!r.stderr.contains(token))
        #expect(!r.stderr.contains(String(token.split(separator: ".")[1].prefix(20))))
    }

    @Test("a corrupt token cache is discarded with a warning and never touches the secrets")
    func corruptCache() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 10))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        #expect(try v.run(["token", "demo"]).status == 0)
        let secrets = v.secretsBytes()
        let caches = v.dir.tokenCacheFiles()
        #expect(caches.count == 1, "one app, one cache file")
        for path in caches { #expect(FileManager.default.createFile(atPath: path, contents: Data("VCACHE2\ngarbage that is not a cache".utf8))) }
        let r = try v.run(["token", "demo", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("vault: warning: discarding the token cache"))
        #expect(try json(r)["token_source"] as? String == "identity_provider")
        #expect(v.secretsBytes() == secrets)
        #expect(try json(try v.run(["token", "demo", "--json"]))["token_source"] as? String == "cache")
    }

    @Test("cache list shows entries but never the token; clear removes them")
    func cacheListAndClear() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 10))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        let token = try v.run(["token", "demo"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let list = try v.run(["cache", "list"])
        #expect(list.stdout.contains("demo"))
        #expect(list.stdout.contains("https://graph.microsoft.com/.default"))
        #expect(!list.stdout.contains(token))
        #expect(try v.run(["cache", "clear", "demo"]).stdout == "Removed 1 cached token of 'demo'.\n")
        #expect(try v.run(["cache", "list"]).stdout == "The token cache is empty.\n")
        #expect(try v.run(["token", "demo"]).status == 0)
        #expect(try emu.tokenRequests() == 2)
    }

    @Test("export writes a 0600 file with a warning and refuses to overwrite")
    func exportFile() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 10))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        #expect(try v.run(["token", "demo"]).status == 0)
        let path = v.dir.file("export.json")
        let r = try v.run(["cache", "export", "--format", "msal", path])
        #expect(r.status == 0)
        #expect(r.stderr.contains("vault: warning: \(path) holds 1 access token in plaintext"))
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) == 0o600)
        let again = try v.run(["cache", "export", "--format", "msal", path])
        #expect(again.status == 64)
        #expect(again.stderr.contains("already exists"))
    }
}
