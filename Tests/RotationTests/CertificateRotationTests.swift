import EntraEmulator
import Foundation
import Testing
import VaultTestSupport

/// An app using a generated certificate that the "portal" (the emulator's admin API) holds.
struct CertApp {
    let emu: EmulatorHarness
    let v: EmulatorVault

    static func make(_ config: EmulatorConfig = EmulatorConfig(users: 10)) throws -> CertApp {
        let emu = try EmulatorHarness.start(config)
        let v = try EmulatorVault(emulator: emu)
        let cer = v.dir.file("demo.cer")
        let add = try v.run(["add-app", "demo", "--tenant", emu.info.tenantID, "--client-id", emu.app.clientID, "--authority", emu.base,
                             "--graph", emu.base, "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default",
                             "--generate-certificate", "--key-size", "2048", "--public-out", cer, "--replace"])
        guard add.status == 0 else { throw EmulatorHarness.HarnessError(message: add.stderr) }
        try emu.admin("POST", "/apps/\(emu.app.clientID)/upload-certificate", ["pem": try String(contentsOfFile: cer, encoding: .utf8)])
        return CertApp(emu: emu, v: v)
    }

    func certificates() throws -> [[String: Any]] { try emu.appState()["certificates"] as? [[String: Any]] ?? [] }

    func stored() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: try v.run(["show", "demo", "--json"]).stdoutData) as? [String: Any])
    }

    /// The stored certificate works with a fresh token, and the app holds exactly that one certificate (no orphan).
    func consistent(_ context: String) throws {
        #expect(try v.run(["cache", "clear"]).status == 0)
        let token = try v.run(["token", "demo"])
        #expect(token.status == 0, "\(context): the stored certificate does not work: \(token.stderr)")
        let certs = try certificates()
        #expect(certs.count == 1, "\(context): the app holds \(certs.count) certificates: \(certs)")
        #expect(certs.first?["thumbprint"] as? String == (try stored())["certificate_sha1"] as? String, "\(context): stored and registered differ")
        #expect(!(try v.run(["status", "demo"])).stdout.contains("rotation"), "\(context): a journal is left")
    }
}

@Suite("vault rotate-cert against the emulator", .timeLimit(.minutes(8)))
struct CertificateRotationTests {
    static let steps = ["after-read", "after-journal", "after-add", "after-journal-added", "after-prove", "after-commit", "after-remove", "after-clear"]

    @Test("a full rotation: the new certificate stored and registered, the old key removed, tokens and Graph work")
    func full() throws {
        let c = try CertApp.make()
        defer { c.emu.stop() }
        let before = try c.stored()["certificate_sha1"] as? String
        let r = try c.v.run(["rotate-cert", "demo", "--valid", "90d"])
        #expect(r.status == 0, "\(r.stderr)")
        let after = try c.stored()
        #expect(after["certificate_sha1"] as? String != before && r.stdout.contains(after["certificate_sha1"] as? String ?? "?"))
        let expires = try #require((after["certificate_expires"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
        #expect(abs(expires.timeIntervalSinceNow - 90 * 86400) < 600)
        #expect(after["certificate_key_id"] as? String == (try c.certificates()).first?["key_id"] as? String)
        try c.consistent("full rotation")
        #expect(try c.v.run(["run", "users", "demo", "--max", "2", "--output", "ndjson"]).status == 0)
    }

    @Test("with a propagation delay: waits for the new certificate before committing it")
    func propagation() throws {
        let c = try CertApp.make()
        defer { c.emu.stop() }
        try c.emu.admin("POST", "/settings", ["propagation_delay": 3])
        let r = try c.v.run(["rotate-cert", "demo"])
        #expect(r.status == 0, "\(r.stderr)")
        try c.emu.admin("POST", "/settings", ["propagation_delay": 0])
        try c.consistent("after propagation")
    }

    @Test("addKey answering with the old key's id is not believed: the failed proof's rollback removes the new key, never the working one")
    func wrongKeyIDAnswer() throws {
        let c = try CertApp.make()
        defer { c.emu.stop() }
        let old = try #require(try c.certificates().first?["key_id"] as? String)
        try c.emu.admin("POST", "/faults", ["path": "/addKey", "mode": "answer-key-id", "count": 1, "key_id": old])
        try c.emu.admin("POST", "/settings", ["propagation_delay": 30])
        let r = try c.v.run(["rotate-cert", "demo", "--propagation-timeout", "2"])
        #expect(r.status != 0 && r.stderr.contains("vault: error:"), "\(r.stderr)")
        try c.emu.admin("POST", "/settings", ["propagation_delay": 0])
        let left = try c.certificates()
        #expect(left.map { $0["key_id"] as? String } == [old], "the app must keep exactly its working certificate: \(left)")
        try c.consistent("after a wrong addKey answer")
    }

    @Test("killed after each step, then resumed: one working certificate, no orphan key", arguments: steps)
    func crashAtStep(_ step: String) throws {
        let c = try CertApp.make()
        defer { c.emu.stop() }
        let crashed = try c.v.run(["rotate-cert", "demo"], env: ["VAULT_TEST_CRASH_AT": step])
        #expect(crashed.status != 0, "the hook must kill the process at \(step)")
        // Whatever the step, the stored certificate still works before recovery.
        #expect(try c.v.run(["cache", "clear"]).status == 0)
        #expect(try c.v.run(["token", "demo"]).status == 0, "\(step): no working certificate while interrupted")
        let resumed = try c.v.run(["rotate-cert", "demo", "--resume", "--lag-window", "1"])
        #expect(resumed.status == 0, "\(step): \(resumed.stderr)")
        try c.consistent(step)
    }

    @Test("SIGKILL at random moments (VAULT_KILL_LOOP_ROTATION times, default 30, a third of them here): always recoverable")
    func killLoop() throws {
        let iterations = max(10, (Int(ProcessInfo.processInfo.environment["VAULT_KILL_LOOP_ROTATION"] ?? "") ?? 30) / 3)
        let c = try CertApp.make()
        defer { c.emu.stop() }
        var generator = SystemRandomNumberGenerator()
        for i in 0..<iterations {
            let p = try VaultRunner.start(["rotate-cert", "demo"], environment: c.v.environment)
            usleep(UInt32.random(in: 0...400_000, using: &generator))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let resumed = try c.v.run(["rotate-cert", "demo", "--resume", "--lag-window", "1"])
            #expect(resumed.status == 0, "iteration \(i): \(resumed.stderr)")
            try c.consistent("iteration \(i)")
        }
    }

    @Test("two rotations at once: one runs, the other is refused and changes nothing")
    func concurrent() throws {
        let c = try CertApp.make()
        defer { c.emu.stop() }
        try c.emu.admin("POST", "/settings", ["propagation_delay": 2])
        let first = try VaultRunner.start(["rotate-cert", "demo"], environment: c.v.environment)
        usleep(700_000)
        let second = try c.v.run(["rotate-cert", "demo"])
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)
        #expect(second.status == 75 && second.stderr.contains("another vault process is rotating"), "\(second.status) \(second.stderr)")
        try c.emu.admin("POST", "/settings", ["propagation_delay": 0])
        try c.consistent("after the concurrent attempt")
    }

    @Test("refused before any change: a certificate the app does not hold, an app that uses a secret")
    func refused() throws {
        let c = try CertApp.make()
        defer { c.emu.stop() }
        // A token is cached first: Graph is reachable with it after the certificate left the app registration.
        #expect(try c.v.run(["token", "demo"]).status == 0)
        try c.emu.admin("POST", "/apps/\(c.emu.app.clientID)/remove-certificate", [:])
        let before = c.v.dir.snapshot("vault").filter { !$0.key.hasSuffix(".lock") }
        let r = try c.v.run(["rotate-cert", "demo"])
        #expect(r.status != 0 && r.stderr.contains("holds no certificate with the stored thumbprint"), "\(r.stderr)")
        #expect(c.v.dir.snapshot("vault").filter { !$0.key.hasSuffix(".lock") } == before)
        try c.v.addApp("secret-app")
        let s = try c.v.run(["rotate-cert", "secret-app"])
        #expect(s.status == 64 && s.stderr.contains("does not use a certificate"), "\(s.stderr)")
    }
}

@Suite("Graph's addKey/removeKey proofs in the emulator (docs/protocols.md, section Graph: addKey and removeKey)")
struct KeyProofTests {
    @Test("a proof that is missing, signed by an unknown key, for another audience or issuer, or too long-lived is refused",
          arguments: ["missing", "unknown-key", "audience", "issuer", "lifetime", "expired"])
    func badProof(_ kind: String) throws {
        let c = try CertApp.make()
        defer { c.emu.stop() }
        let app = try c.emu.appState()
        let objectID = try #require(app["object_id"] as? String)
        // A token of the app (with its certificate) to call Graph, and an attacker's own certificate and key.
        let tokenJSON = try #require(try JSONSerialization.jsonObject(with: try c.v.run(["token", "demo", "--json"]).stdoutData) as? [String: Any])
        let token = try #require(tokenJSON["access_token"] as? String)
        let o = OpenSSL()
        try o.selfSigned("other")
        let otherDER = try Data(contentsOf: URL(fileURLWithPath: o.dir.file("other.crt")))
        let newCert = String(decoding: otherDER, as: UTF8.self).split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let now = Int(Date().timeIntervalSince1970)
        var claims: [String: Any] = ["aud": "00000002-0000-0000-c000-000000000000", "iss": objectID, "nbf": now, "exp": now + 600]
        var signer = "vault"  // by default the proof is signed with the app's stored key, via `vault` itself below
        switch kind {
        case "audience": claims["aud"] = "https://graph.microsoft.com"
        case "issuer": claims["iss"] = c.emu.app.clientID
        case "lifetime": claims["exp"] = now + 3600
        case "expired": claims["nbf"] = now - 1200; claims["exp"] = now - 600
        case "unknown-key": signer = "other"
        default: signer = "none"
        }
        var proof = ""
        if signer != "none" {
            // Sign with openssl: RS256 over base64url(header).base64url(claims).
            func b64url(_ d: Data) -> String {
                d.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            }
            let keyFile = signer == "other" ? o.dir.file("other.key") : try exportedKey(c, to: o)
            let certForThumbprint = signer == "other" ? o.dir.file("other.crt") : o.dir.file("app.crt")
            let sha1 = try o.sha1(certForThumbprint)
            let x5t = b64url(Data(stride(from: 0, to: sha1.count, by: 2).map { UInt8(sha1.dropFirst($0).prefix(2), radix: 16)! }))
            let header = try JSONSerialization.data(withJSONObject: ["alg": "RS256", "typ": "JWT", "x5t": x5t])
            let input = b64url(header) + "." + b64url(try JSONSerialization.data(withJSONObject: claims))
            try Data(input.utf8).write(to: URL(fileURLWithPath: o.dir.file("input")))
            try o.run(["dgst", "-sha256", "-sign", keyFile, "-out", "sig", "input"])
            proof = input + "." + b64url(try Data(contentsOf: URL(fileURLWithPath: o.dir.file("sig"))))
        }
        let body = try JSONSerialization.data(withJSONObject: [
            "keyCredential": ["type": "AsymmetricX509Cert", "usage": "Verify", "key": newCert], "passwordCredential": NSNull(), "proof": proof,
        ])
        let r = try c.emu.send("POST", "/v1.0/applications/\(objectID)/addKey", headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                               body: String(decoding: body, as: UTF8.self))
        #expect(r.status == 400 && r.bodyText.contains("InvalidProof"), "\(kind): \(r.status) \(r.bodyText)")
        #expect(try c.certificates().count == 1, "\(kind): a key was added")
    }

    /// The app's own key is never exported by vault; for the valid-signature cases the test imports a key it made
    /// itself, so it can sign proofs with openssl.
    func exportedKey(_ c: CertApp, to o: OpenSSL) throws -> String {
        try o.selfSigned("app")
        let add = try c.v.run(["add-app", "demo", "--tenant", c.emu.info.tenantID, "--client-id", c.emu.app.clientID, "--authority", c.emu.base,
                               "--graph", c.emu.base, "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default",
                               "--certificate", o.dir.file("app.crt"), "--key", o.dir.file("app.key"), "--replace"])
        guard add.status == 0 else { throw EmulatorHarness.HarnessError(message: add.stderr) }
        try c.emu.admin("POST", "/apps/\(c.emu.app.clientID)/remove-certificate", [:])
        try c.emu.admin("POST", "/apps/\(c.emu.app.clientID)/upload-certificate", ["pem": o.text("app.crt")])
        return o.dir.file("app.key")
    }
}

@Suite("vault rotate-secret --to-certificate against the emulator", .timeLimit(.minutes(8)))
struct ToCertificateTests {
    static let steps = ["after-read", "after-journal", "after-add", "after-journal-added", "after-prove", "after-commit", "after-remove"]

    func setUp() throws -> (EmulatorHarness, EmulatorVault, OpenSSL) {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 10))
        let v = try EmulatorVault(emulator: emu)
        // Another certificate already on the app: the PATCH must keep it.
        let o = OpenSSL()
        try o.selfSigned("other")
        try emu.admin("POST", "/apps/\(emu.app.clientID)/upload-certificate", ["pem": o.text("other.crt")])
        return (emu, v, o)
    }

    func check(_ emu: EmulatorHarness, _ v: EmulatorVault, _ o: OpenSSL, _ context: String) throws {
        let state = try emu.appState()
        let certs = state["certificates"] as? [[String: Any]] ?? []
        let show = try #require(try JSONSerialization.jsonObject(with: try v.run(["show", "demo", "--json"]).stdoutData) as? [String: Any])
        #expect(show["credential"] as? String == "certificate", "\(context): \(show)")
        #expect(Set(certs.compactMap { $0["thumbprint"] as? String }) == [try o.sha1("other.crt"), show["certificate_sha1"] as? String ?? "?"],
                "\(context): \(certs)")
        #expect((state["passwords"] as? [[String: Any]] ?? []).isEmpty, "\(context): the old password is left")
        #expect(try v.run(["cache", "clear"]).status == 0)
        let token = try v.run(["token", "demo"])
        #expect(token.status == 0, "\(context): \(token.stderr)")
        #expect(!(try v.run(["status", "demo"])).stdout.contains("rotation"), "\(context): a journal is left")
    }

    @Test("secret → certificate: PATCH keeps the other key, the new certificate is proven and stored, the password and the secret go")
    func move() throws {
        let (emu, v, o) = try setUp()
        defer { emu.stop() }
        let r = try v.run(["rotate-secret", "demo", "--to-certificate", "--key-size", "2048", "--valid", "30d"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Moved 'demo' to a certificate") && r.stdout.contains("removed password"))
        try check(emu, v, o, "moved")
        // The secret is gone from the vault too.
        let show = try #require(try JSONSerialization.jsonObject(with: try v.run(["show", "demo", "--json"]).stdoutData) as? [String: Any])
        #expect(show["secret_hint"] as? String == "")
        // And the certificate can now be rotated with addKey.
        #expect(try v.run(["rotate-cert", "demo"]).status == 0)
    }

    @Test("killed after each step, then resumed with rotate-cert --resume: always a working credential, no orphan", arguments: steps)
    func crashAtStep(_ step: String) throws {
        let (emu, v, o) = try setUp()
        defer { emu.stop() }
        let crashed = try v.run(["rotate-secret", "demo", "--to-certificate", "--key-size", "2048"], env: ["VAULT_TEST_CRASH_AT": step])
        #expect(crashed.status != 0, "the hook must kill the process at \(step)")
        #expect(try v.run(["cache", "clear"]).status == 0)
        #expect(try v.run(["token", "demo"]).status == 0, "\(step): no working credential while interrupted")
        let resumed = try v.run(["rotate-cert", "demo", "--resume", "--lag-window", "1"])
        #expect(resumed.status == 0, "\(step): \(resumed.stderr)")
        if step == "after-read" || step == "after-journal" {
            // Nothing had been written to Graph yet (after-journal: the journal alone): the app keeps its secret.
            let show = try #require(try JSONSerialization.jsonObject(with: try v.run(["show", "demo", "--json"]).stdoutData) as? [String: Any])
            #expect(show["credential"] as? String == "secret", "\(step)")
            #expect((try emu.appState()["certificates"] as? [[String: Any]])?.count == 1, "\(step): an orphan key")
            #expect(try v.run(["token", "demo"]).status == 0)
        } else {
            try check(emu, v, o, step)
        }
    }
}
