import EntraEmulator
import EntraAuth
import VaultCLI
import VaultErrors
import VaultHTTP
import VaultPKI
import VaultCrypto
import Foundation
import Testing
import VaultTestSupport

/// Certificate credentials through the CLI, against the emulator's signature and thumbprint checks.
@Suite("certificate credentials end to end", .timeLimit(.minutes(5)))
struct CertificateTokenTests {
    func endpointArgs(_ emu: EmulatorHarness) -> [String] {
        ["--tenant", emu.info.tenantID, "--client-id", emu.app.clientID, "--authority", emu.base, "--graph", emu.base,
         "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default"]
    }

    func json(_ r: RunResult) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any], "\(r.stdout) \(r.stderr)")
    }

    /// The `appidacr` claim of an emulator token: "1" for a secret, "2" for a certificate.
    func acr(_ token: String) -> String? {
        let p = token.split(separator: ".")
        guard p.count == 3 else { return nil }
        var b = p[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b.count % 4 != 0 { b += "=" }
        return (try? JSONSerialization.jsonObject(with: Data(base64Encoded: b) ?? Data()) as? [String: Any])?["appidacr"] as? String
    }

    func upload(_ emu: EmulatorHarness, pem: String) throws {
        try emu.admin("POST", "/apps/\(emu.app.clientID)/upload-certificate", ["pem": pem])
    }

    @Test("--generate-certificate: only the public certificate leaves the vault; refused until uploaded, then tokens and Graph work, cached")
    func generated() throws {
        let emu = try EmulatorHarness.start()
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        let cer = v.dir.file("app.cer")
        let add = try v.run(["add-app", "cert"] + endpointArgs(emu) + ["--generate-certificate", "--subject", "CN=vault-test", "--key-size", "2048", "--public-out", cer])
        #expect(add.status == 0, "\(add.stderr)")
        let pem = try String(contentsOfFile: cer, encoding: .utf8)
        #expect(pem.hasPrefix("-----BEGIN CERTIFICATE-----") && !pem.contains("PRIVATE KEY"))
        let shown = try json(try v.run(["show", "cert", "--json"]))
        let thumbprint = try #require(shown["certificate_sha1"] as? String)
        #expect(add.stdout.contains(thumbprint) && add.stdout.contains("Upload it to the app registration"))
        #expect(shown["credential"] as? String == "certificate" && shown["assertion_algorithm"] as? String == "PS256")
        #expect(try v.run(["show", "cert", "--certificate-pem"]).stdout == pem)

        let early = try v.run(["token", "cert"])
        #expect(early.status == 77 && early.stderr.contains("AADSTS700027") && early.stderr.contains("vault: hint:"), "\(early.stderr)")
        try upload(emu, pem: pem)
        let before = try emu.tokenRequests()
        let first = try json(try v.run(["token", "cert", "--json"]))
        #expect(first["token_source"] as? String == "identity_provider")
        #expect(acr(first["access_token"] as? String ?? "") == "2", "the token was issued for a certificate")
        let second = try json(try v.run(["token", "cert", "--json"]))
        #expect(second["token_source"] as? String == "cache" && second["access_token"] as? String == first["access_token"] as? String)
        #expect(try emu.tokenRequests() == before + 1)
        let users = try v.run(["run", "users", "cert", "--max", "3", "--output", "ndjson"])
        #expect(users.status == 0 && users.stdout.split(separator: "\n").count == 3, "\(users.stderr)")
        let status = try v.run(["status", "cert", "--json"])
        #expect(status.status == 0, "\(status.stdout) \(status.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: status.stdoutData) as? [[String: Any]])
        #expect(rows.count == 1 && rows[0]["credential"] as? String == "certificate" && rows[0]["expiry_source"] as? String == "certificate")
        #expect(rows[0]["key_id"] as? String != nil, "Graph's keyCredentials name the uploaded certificate")
    }

    @Test("PEM import with RS256 and x5c, PFX import: the emulator verifies both; the private key is in no file, output or -vv log")
    func imported() throws {
        let emu = try EmulatorHarness.start()
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        let o = OpenSSL()
        try o.selfSigned("imp")
        try o.run(["pkcs12", "-export", "-in", "imp.crt", "-inkey", "imp.key", "-out", "imp.pfx", "-passout", "pass:pfx-pass-1"])
        chmod(o.dir.file("imp.key"), 0o600)
        chmod(o.dir.file("imp.pfx"), 0o600)
        try upload(emu, pem: o.text("imp.crt"))
        let pemAdd = try v.run(["add-app", "pem"] + endpointArgs(emu) + ["--certificate", o.dir.file("imp.crt"), "--key", o.dir.file("imp.key"),
                                                                         "--assertion", "rs256", "--send-x5c"])
        #expect(pemAdd.status == 0, "\(pemAdd.stderr)")
        #expect(pemAdd.stderr.contains("still holds the private key"))
        let pfxAdd = try v.run(["add-app", "pfx"] + endpointArgs(emu) + ["--certificate", o.dir.file("imp.pfx")], stdin: "pfx-pass-1\n")
        #expect(pfxAdd.status == 0, "\(pfxAdd.stderr)")
        var outputs = [pemAdd.stdout, pemAdd.stderr, pfxAdd.stdout, pfxAdd.stderr]
        for app in ["pem", "pfx"] {
            // Both apps are the same registration, so they share cached tokens: clear, so each one fetches.
            #expect(try v.run(["cache", "clear"]).status == 0)
            let r = try v.run(["token", app, "-vv", "--json"])
            #expect(try json(r)["token_source"] as? String == "identity_provider", "\(app)")
            #expect(r.status == 0, "\(app): \(r.stderr)")
            #expect(acr(try json(r)["access_token"] as? String ?? "") == "2")
            outputs += [r.stdout, r.stderr]
            // The signed assertion (a bearer credential for 10 minutes) is not in the -vv log either: vault's
            // assertion headers begin {"alg":"PS256","typ" / {"alg":"RS256","typ".
            #expect(!r.stderr.contains("eyJhbGciOiJQUzI1NiIsInR5cCI6") && !r.stderr.contains("eyJhbGciOiJSUzI1NiIsInR5cCI6"), "\(app): assertion logged")
            #expect(r.stderr.contains("client_assertion"), "\(app): -vv should name the form fields")
        }
        #expect(try json(try v.run(["show", "pem", "--json"]))["assertion_algorithm"] as? String == "RS256")
        // The key's base64 lines and its DER never show up outside the vault's ciphertext.
        let keyLines = o.text("imp.key").split(separator: "\n").filter { !$0.hasPrefix("-----") }.map(String.init)
        let der = try #require(Data(base64Encoded: keyLines.joined()))
        for out in outputs { for line in keyLines { #expect(!out.contains(line)) } }
        for (name, bytes) in v.dir.snapshot("vault") {
            #expect(bytes.range(of: der.subdata(in: 40..<80)) == nil, "key bytes in \(name)")
            for line in keyLines { #expect(bytes.range(of: Data(line.utf8)) == nil, "key text in \(name)") }
        }
    }

    @Test("bad certificate inputs are refused and leave the vault byte for byte unchanged", arguments: [
        "wrong-password", "mismatch", "small", "expired", "public-out-exists", "both-sources",
    ])
    func refused(_ kind: String) throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 5))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        let o = OpenSSL()
        try o.selfSigned("a")
        try o.selfSigned("b")
        try o.run(["pkcs12", "-export", "-in", "a.crt", "-inkey", "a.key", "-out", "a.pfx", "-passout", "pass:right-pass"])
        let before = v.dir.snapshot("vault")
        var args = ["add-app", "x"] + endpointArgs(emu)
        var stdin: String?
        var expected = ""
        switch kind {
        case "wrong-password": args += ["--certificate", o.dir.file("a.pfx")]; stdin = "wrong-pass"; expected = "wrong password"
        case "mismatch": args += ["--certificate", o.dir.file("a.crt"), "--key", o.dir.file("b.key")]; expected = "does not belong"
        case "small":
            try o.selfSigned("s", bits: 1024)
            args += ["--certificate", o.dir.file("s.crt"), "--key", o.dir.file("s.key")]; expected = "1024 bits"
        case "expired":
            // A certificate that ended yesterday, made with openssl's -days 1 and a start in the past (faketime-free).
            try o.run(["req", "-new", "-key", "a.key", "-out", "old.csr", "-subj", "/CN=old"])
            try o.run(["x509", "-req", "-in", "old.csr", "-key", "a.key", "-out", "old.crt", "-days", "-1"])
            args += ["--certificate", o.dir.file("old.crt"), "--key", o.dir.file("a.key")]; expected = "expired"
        case "public-out-exists":
            #expect(FileManager.default.createFile(atPath: o.dir.file("taken.cer"), contents: Data("mine".utf8)))
            args += ["--generate-certificate", "--key-size", "2048", "--public-out", o.dir.file("taken.cer")]; expected = "already exists"
        default:
            args += ["--certificate", o.dir.file("a.crt"), "--generate-certificate", "--public-out", o.dir.file("n.cer")]; expected = "exclude each other"
        }
        let r = try v.run(args, stdin: stdin)
        #expect(r.status != 0, "\(kind): \(r.stdout)")
        #expect(r.stderr.hasPrefix("vault: error: ") && r.stderr.contains(expected), "\(kind): \(r.stderr)")
        #expect(v.dir.snapshot("vault") == before, "\(kind): the vault changed")
        if kind == "public-out-exists" { #expect(try String(contentsOfFile: o.dir.file("taken.cer"), encoding: .utf8) == "mine") }
    }

    @Test("a secret and a certificate: --keep-credential keeps the secret, --use secret picks it, the certificate is the default")
    func both() throws {
        let emu = try EmulatorHarness.start()
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        let cer = v.dir.file("demo.cer")
        let add = try v.run(["add-app", "demo"] + endpointArgs(emu) + ["--generate-certificate", "--key-size", "2048", "--public-out", cer,
                                                                    "--replace", "--keep-credential"])
        #expect(add.status == 0, "\(add.stderr)")
        try upload(emu, pem: try String(contentsOfFile: cer, encoding: .utf8))
        let shown = try json(try v.run(["show", "demo", "--json"]))
        #expect(shown["credential"] as? String == "certificate+secret" && shown["uses"] as? String == "certificate")
        #expect(acr(try json(try v.run(["token", "demo", "--json"]))["access_token"] as? String ?? "") == "2")
        // The same app, now told to use its secret: the kept secret still works.
        let again = try v.run(["add-app", "demo"] + endpointArgs(emu) + ["--use", "secret", "--replace", "--keep-credential"], stdin: emu.app.secret)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try v.run(["cache", "clear", "demo"]).status == 0)
        #expect(acr(try json(try v.run(["token", "demo", "--json"]))["access_token"] as? String ?? "") == "1")
        let status = try JSONSerialization.jsonObject(with: try v.run(["status", "demo", "--json"]).stdoutData) as? [[String: Any]]
        #expect(status?.map { $0["credential"] as? String } == ["certificate", "secret"])
        #expect(status?.map { $0["in_use"] as? Bool } == [false, true])
        // rotate-secret needs a secret; a certificate-only app says what to do instead.
        let certOnly = try v.run(["add-app", "only"] + endpointArgs(emu) + ["--generate-certificate", "--key-size", "2048", "--public-out", v.dir.file("o.cer")])
        #expect(certOnly.status == 0)
        let rotate = try v.run(["rotate-secret", "only"])
        #expect(rotate.status == 64 && rotate.stderr.contains("holds no client secret"), "\(rotate.stderr)")
    }
}

@Suite("certificate expiry in vault status")
struct CertificateStatusTests {
    @Test("a certificate expiring within --warn-days makes status exit 1, with the certificate's own date")
    func expiring() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 5))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        let cer = v.dir.file("soon.cer")
        let add = try v.run(["add-app", "soon", "--tenant", emu.info.tenantID, "--client-id", emu.app.clientID, "--authority", emu.base,
                             "--graph", emu.base, "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default",
                             "--generate-certificate", "--key-size", "2048", "--valid", "10d", "--public-out", cer])
        #expect(add.status == 0, "\(add.stderr)")
        try emu.admin("POST", "/apps/\(emu.app.clientID)/upload-certificate", ["pem": try String(contentsOfFile: cer, encoding: .utf8)])
        let warn = try v.run(["status", "soon", "--warn-days", "30"])
        #expect(warn.status == 1, "\(warn.stdout) \(warn.stderr)")
        #expect(warn.stdout.contains("certificate") && warn.stdout.contains("expiring"))
        #expect(try v.run(["status", "soon", "--warn-days", "5"]).status == 0)
    }
}

@Suite("certificate errors without a server")
struct CertificateErrorTests {
    @Test("AADSTS700027, 700024 and 700021 each get their own sentence and a hint", arguments: [
        (700027, "entra.unknown_certificate", "not registered"), (700024, "entra.assertion_time", "clock"),
        (700021, "entra.assertion_issuer", "client id"),
    ])
    func mapped(_ code: Int, _ expected: String, _ words: String) {
        let body = #"{"error":"invalid_client","error_description":"AADSTS\#(code): x","error_codes":[\#(code)],"correlation_id":"c-1"}"#
        let e = EntraErrors.map(HTTPResponse(status: 401, body: Array(body.utf8)), app: "a", clientID: "22222222-2222-2222-2222-222222222222",
                                tenant: "t", scope: "s")
        #expect(e.code.rawValue == expected)
        #expect((e.reason + (ErrorWords.hint(e) ?? "")).contains(words), "\(e.reason) / \(ErrorWords.hint(e) ?? "")")
        #expect(ErrorWords.hint(e) != nil && e.reason.contains("AADSTS\(code)") && e.reason.contains("c-1"))
    }

    @Test("an expired certificate is refused before anything is sent")
    func expired() throws {
        let c = try CertificateGeneration.generate(subject: "CN=old", validDays: 1, keyBits: 2048, now: Date().addingTimeInterval(-3 * 86400))
        let credential = AppCredential.certificate(StoredCertificate(certificateBase64: Data(c.certificate.der).base64EncodedString(),
                                                                     privateKey: c.privateKey, notAfter: c.certificate.notAfter))
        let app = AppIdentity(name: "old", clientID: "22222222-2222-2222-2222-222222222222", tenant: "11111111-1111-1111-1111-111111111111",
                              authorityHost: "https://127.0.0.1:1", credential: credential)
        let sent = SentRequests()
        let flow = ClientCredentials(transport: sent)
        do {
            _ = try flow.acquire(app, scope: "https://graph.microsoft.com/.default")
            Issue.record("an expired certificate was used")
        } catch let e as VaultError {
            #expect(e.code == "cert.expired" && ErrorWords.hint(e)?.contains("--generate-certificate") == true)
        }
        #expect(sent.count == 0, "nothing may reach the token endpoint")
    }
}

final class SentRequests: HTTPTransport, @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    var count: Int { lock.withLock { n } }
    func send(_ request: HTTPRequest) throws -> HTTPResponse {
        lock.withLock { n += 1 }
        return HTTPResponse(status: 500)
    }
}
