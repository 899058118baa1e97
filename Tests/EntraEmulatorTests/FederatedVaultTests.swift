import EntraEmulator
import Foundation
import Testing
import VaultTestSupport
import _CryptoExtras

/// vault's side of federated credentials, end to end: `add-app --federated file:PATH`, `vault token`, `run users`,
/// the cache, the audit log and the words for Entra's answers, against the emulator trusting the test issuer.
/// (Here rather than in TokenTests because the test issuer, an HTTPS server with its own CA, lives in this target.)
struct FederatedVault {
    static let subject = "system:serviceaccount:prod:reporter"
    let f: FederatedFixture
    let v: EmulatorVault
    let tokenFile: String

    init(fic: Bool = true, propagationDelay: Double? = nil) throws {
        f = try FederatedFixture()
        if let propagationDelay { try f.emu.admin("POST", "/settings", ["propagation_delay": propagationDelay]) }
        if fic { #expect(try f.create(f.fic("k8s", subject: Self.subject)).status == 201) }
        v = try EmulatorVault(emulator: f.emu, secret: "Fic8Q~emulator-test-secret-0000000000000", clientID: FederatedFixture.clientID)
        tokenFile = v.dir.file("token")
    }

    var endpointArgs: [String] {
        ["--tenant", f.emu.info.tenantID, "--client-id", FederatedFixture.clientID, "--authority", f.emu.base, "--graph", f.emu.base,
         "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default"]
    }

    /// Writes `token` to the token file as the kubelet does: a new file renamed over the old one.
    func publish(_ token: String) throws {
        let temp = tokenFile + ".new"
        try Data(token.utf8).write(to: URL(fileURLWithPath: temp))
        #expect(rename(temp, tokenFile) == 0)
    }

    func addApp(_ name: String = "fed", source: String? = nil) throws -> RunResult {
        try v.run(["add-app", name] + endpointArgs + ["--federated", source ?? "file:" + tokenFile])
    }

    func json(_ r: RunResult) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any], "\(r.stdout) \(r.stderr)")
    }

    var auditLog: String { (try? String(contentsOfFile: v.vaultPath + "/audit.log", encoding: .utf8)) ?? "" }

    func stop() { f.stop() }
}

@Suite("federated apps end to end (vault and the emulator)", .serialized, .timeLimit(.minutes(5)))
struct FederatedVaultTests {
    @Test("file: a token fetched with the external token; a cache hit reads no file; a Graph call; list, show and the audit log")
    func fileSource() throws {
        let fv = try FederatedVault()
        defer { fv.stop() }
        let external = fv.f.issuer.token(subject: FederatedVault.subject)
        try fv.publish(external + "\n")
        let add = try fv.addApp()
        #expect(add.status == 0, "\(add.stderr)")
        #expect(add.stdout.contains("federated credential from file:\(fv.tokenFile)"))
        let shown = try fv.json(try fv.v.run(["show", "fed", "--json"]))
        #expect(shown["credential"] as? String == "federated" && shown["federated"] as? String == "file:" + fv.tokenFile)
        #expect(try fv.v.run(["list"]).stdout.contains("federated file:\(fv.tokenFile)"))

        let before = try fv.f.emu.tokenRequests(FederatedFixture.clientID)
        let first = try fv.json(try fv.v.run(["token", "fed", "--json"]))
        #expect(first["token_source"] as? String == "identity_provider", "\(first)")
        let access = try #require(first["access_token"] as? String)
        #expect(claims(of: access)["appidacr"] as? String == "2" && claims(of: access)["appid"] as? String == FederatedFixture.clientID)

        // The cache answers without the token file: it is not even opened.
        try FileManager.default.removeItem(atPath: fv.tokenFile)
        let second = try fv.json(try fv.v.run(["token", "fed", "--json"]))
        #expect(second["token_source"] as? String == "cache" && second["access_token"] as? String == access)
        // A Graph call with the cached token (the fixture's app may read its own federated credentials).
        let graph = try fv.v.run(["run", "get", "fed", "/applications(appId='\(FederatedFixture.clientID)')/federatedIdentityCredentials"])
        #expect(graph.status == 0 && graph.stdout.contains(FederatedVault.subject), "\(graph.stdout) \(graph.stderr)")
        #expect(try fv.f.emu.tokenRequests(FederatedFixture.clientID) == before + 1)

        let status = try fv.v.run(["status", "fed", "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: status.stdoutData) as? [[String: Any]], "\(status.stdout) \(status.stderr)")
        #expect(status.status == 0 && rows.count == 1 && rows[0]["credential"] as? String == "federated file:" + fv.tokenFile, "\(rows)")
        let rotate = try fv.v.run(["rotate-secret", "fed"])
        #expect(rotate.status == 64 && rotate.stderr.contains("external token"), "\(rotate.stderr)")

        // The audit line of the fetch names the token's issuer and subject; the token is nowhere in the log.
        let log = fv.auditLog
        let request = try #require(log.split(separator: "\n").first { $0.contains("\"entra.token_request\"") && $0.contains("\"app\":\"fed\"") })
        let line = try #require(try JSONSerialization.jsonObject(with: Data(request.utf8)) as? [String: Any])
        #expect(line["issuer"] as? String == fv.f.issuer.issuer && line["subject"] as? String == FederatedVault.subject && line["outcome"] as? String == "ok")
        #expect(!log.contains(external.split(separator: ".")[2]) && !log.contains(access))
    }

    @Test("-vv logs the token request with client_assertion redacted: the external token is not on stderr")
    func verboseRedacts() throws {
        let fv = try FederatedVault()
        defer { fv.stop() }
        let external = fv.f.issuer.token(subject: FederatedVault.subject)
        try fv.publish(external)
        #expect(try fv.addApp().status == 0)
        let r = try fv.v.run(["token", "fed", "-vv"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("client_assertion"), "the -vv log shows the form body: \(r.stderr)")
        let signature = String(external.split(separator: ".")[2])
        #expect(!r.stderr.contains(signature) && !r.stderr.contains(external.prefix(40)), "the external token leaked into -vv output")
        #expect(!r.stderr.contains(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    @Test("the token file at fetch time: missing, empty, not a JWT, expired — each said before Entra ID is asked")
    func fileProblems() throws {
        let fv = try FederatedVault()
        defer { fv.stop() }
        #expect(try fv.addApp().status == 0, "a token file that is not there yet is accepted (with a warning)")
        let before = try fv.f.emu.tokenRequests(FederatedFixture.clientID)
        let missing = try fv.v.run(["token", "fed"])
        #expect(missing.status == 66 && missing.stderr.contains("does not exist") && missing.stderr.contains("vault: hint:"), "\(missing.stderr)")
        try fv.publish("")
        let empty = try fv.v.run(["token", "fed"])
        #expect(empty.status == 75 && empty.stderr.contains("is empty"), "\(empty.stderr)")
        try fv.publish("not-a-jwt")
        let garbage = try fv.v.run(["token", "fed"])
        #expect(garbage.status == 65 && garbage.stderr.contains("not a usable JWT"), "\(garbage.stderr)")
        try fv.publish(fv.f.issuer.token(subject: FederatedVault.subject, lifetime: -60))
        let expired = try fv.v.run(["token", "fed"])
        #expect(expired.status == 75 && expired.stderr.contains("expired at") && expired.stderr.contains(FederatedVault.subject), "\(expired.stderr)")
        #expect(try fv.f.emu.tokenRequests(FederatedFixture.clientID) == before, "none of them reached the token endpoint")
    }

    @Test("Entra's federated answers get their own words: 70021, 700211, 700024, 50166, 90061, 7000272")
    func entraAnswers() throws {
        let fv = try FederatedVault()
        defer { fv.stop() }
        #expect(try fv.addApp().status == 0)
        let issuer = fv.f.issuer
        func attempt(_ token: String) throws -> RunResult {
            try fv.publish(token)
            return try fv.v.run(["token", "fed", "--max-wait", "0"])
        }
        let noMatch = try attempt(issuer.token(subject: "system:serviceaccount:prod:other"))
        #expect(noMatch.status == 77 && noMatch.stderr.contains("AADSTS70021") && noMatch.stderr.contains("no federated credential"), "\(noMatch.stderr)")
        #expect(noMatch.stderr.contains("hint:") && noMatch.stderr.contains("subject system:serviceaccount:prod:other") && noMatch.stderr.contains("propagate"))
        let wrongIssuer = try attempt(issuer.token(subject: FederatedVault.subject, issuer: issuer.issuer + "/"))
        #expect(wrongIssuer.status == 77 && wrongIssuer.stderr.contains("AADSTS700211") && wrongIssuer.stderr.contains("issuer \(issuer.issuer)/"), "\(wrongIssuer.stderr)")
        let early = try attempt(issuer.token(subject: FederatedVault.subject, notBefore: Date().timeIntervalSince1970 + 600))
        #expect(early.status == 78 && early.stderr.contains("AADSTS700024") && early.stderr.contains("federated token") && early.stderr.contains("refreshes"), "\(early.stderr)")
        let strangerKey = TestIssuer.Key(kid: "rotated-2", key: try _RSA.Signing.PrivateKey(keySize: .bits2048))
        let staleMirror = try attempt(issuer.token(subject: FederatedVault.subject, key: strangerKey))
        #expect(staleMirror.status == 69 && staleMirror.stderr.contains("AADSTS7000272") && staleMirror.stderr.contains("static mirror"), "\(staleMirror.stderr)")
        issuer.serveDiscovery(contentType: "text/plain")
        let notJSON = try attempt(issuer.token(subject: FederatedVault.subject))
        #expect(notJSON.status == 69 && notJSON.stderr.contains("AADSTS90061") && notJSON.stderr.contains("application/json"), "\(notJSON.stderr)")
        issuer.remove("/oidc/.well-known/openid-configuration")
        let unreachable = try attempt(issuer.token(subject: FederatedVault.subject))
        #expect(unreachable.status == 69 && unreachable.stderr.contains("AADSTS50166") && unreachable.stderr.contains("public HTTPS"), "\(unreachable.stderr)")
        #expect(!fv.auditLog.isEmpty && fv.auditLog.contains("entra.federated_discovery"))
    }

    @Test("AADSTS70021 while a new federated credential propagates: vault retries with pauses, then gets its token")
    func propagation() throws {
        let fv = try FederatedVault(fic: false, propagationDelay: 3)
        defer { fv.stop() }
        #expect(try fv.f.create(fv.f.fic("late", subject: FederatedVault.subject)).status == 201)
        try fv.publish(fv.f.issuer.token(subject: FederatedVault.subject))
        #expect(try fv.addApp().status == 0)
        let before = try fv.f.emu.tokenEndpointHits()
        let r = try fv.v.run(["token", "fed", "--max-wait", "1", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try fv.f.emu.tokenEndpointHits() - before >= 2, "the first answer was AADSTS70021, and vault asked again")
    }

    @Test("single flight: processes started together with a cold cache make one token request and print the one token")
    func singleFlight() throws {
        let fv = try FederatedVault()
        defer { fv.stop() }
        try fv.publish(fv.f.issuer.token(subject: FederatedVault.subject))
        #expect(try fv.addApp().status == 0)
        let before = try fv.f.emu.tokenRequests(FederatedFixture.clientID)
        let outputs = (0..<6).map { fv.v.dir.file("out-\($0)") }
        let processes = try outputs.map { path -> Process in
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            return try VaultRunner.start(["token", "fed"], environment: fv.v.environment, stdout: FileHandle(forWritingAtPath: path))
        }
        for p in processes { p.waitUntilExit() }
        #expect(processes.allSatisfy { $0.terminationStatus == 0 })
        let tokens = Set(outputs.map { (try? String(contentsOfFile: $0, encoding: .utf8)) ?? "" })
        #expect(tokens.count == 1 && !(tokens.first ?? "").isEmpty, "every process printed the one token")
        #expect(try fv.f.emu.tokenRequests(FederatedFixture.clientID) == before + 1)
    }

    @Test("add-app --federated refuses what it cannot use, and the vault file is byte for byte unchanged", arguments: [
        (["--federated", "nonsense"], "neither file:PATH nor backend:NAME/ROLE"),
        (["--federated", "file:relative/token"], "not an absolute path"),
        (["--federated", "file:"], "is empty"),
        (["--federated", "backend:only-a-name"], "is not backend:NAME/ROLE"),
        (["--federated", "backend:bao/role with space"], "is not backend:NAME/ROLE"),
        (["--federated", "backend:bao/.."], "is not backend:NAME/ROLE"),
        (["--federated", "backend:nosuch/azure"], "no backend named 'nosuch'"),
        (["--federated", "file:TOKENFILE", "--use", "secret"], "do not combine"),
    ])
    func refusals(_ args: [String], _ words: String) throws {
        let fv = try FederatedVault(fic: false)
        defer { fv.stop() }
        let before = try #require(fv.v.secretsBytes())
        let r = try fv.v.run(["add-app", "fed"] + fv.endpointArgs + args.map { $0.replacingOccurrences(of: "TOKENFILE", with: fv.tokenFile) })
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains(words), "\(r.stderr)")
        #expect(fv.v.secretsBytes() == before)
    }

    @Test("add-app --federated file: refuses a token file that holds no JWT (the vault unchanged); warns on an expired one")
    func fileContents() throws {
        let fv = try FederatedVault(fic: false)
        defer { fv.stop() }
        let before = try #require(fv.v.secretsBytes())
        try fv.publish("eyJhbGciOiJIUzI1NiJ9.e30.c2ln")
        let hs256 = try fv.addApp()
        #expect(hs256.status == 65 && hs256.stderr.contains("RS256"), "\(hs256.stderr)")
        #expect(fv.v.secretsBytes() == before)
        try fv.publish(fv.f.issuer.token(subject: FederatedVault.subject, lifetime: -60))
        let expired = try fv.addApp()
        #expect(expired.status == 0 && expired.stderr.contains("warning") && expired.stderr.contains("expired"), "\(expired.stderr)")
    }
}
