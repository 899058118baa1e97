import Foundation
import Testing
import Crypto
import VaultErrors
import _CryptoExtras
import VaultCrypto
import VaultPKI
import VaultTestSupport

func secret(_ s: String) -> SecretBytes { var b = Array(s.utf8); return SecretBytes(consuming: &b) }

func code(_ body: () throws -> Void) -> String? {
    do { try body(); return nil } catch let e as VaultError { return e.code.rawValue } catch { return "other: \(error)" }
}

@Suite("certificate import and generation (VaultPKI)")
struct CertificateImportTests {
    @Test("PEM: certificate and PKCS#8 key in one file, or a PKCS#1 key in another; the thumbprint is openssl's")
    func pem() throws {
        let o = OpenSSL()
        try o.selfSigned("app")
        try o.run(["rsa", "-in", "app.key", "-traditional", "-out", "app.rsa.key"])
        #expect(o.text("app.rsa.key").hasPrefix("-----BEGIN RSA PRIVATE KEY-----"))
        let combined = secret(o.text("app.crt") + "Bag Attributes: ignored text\n" + o.text("app.key"))
        let one = try CertificateImport.fromPEM(combined)
        let two = try CertificateImport.fromPEM(o.bytes("app.crt"), keyPEM: o.bytes("app.rsa.key"))
        #expect(one.certificate.sha1Hex == (try o.sha1("app.crt")))
        #expect(one.certificate == two.certificate)
        #expect(one.certificate.subject.contains("CN=app"))
        #expect(one.certificate.keyBits == 2048)
        #expect(one.certificate.x5t == JOSE.base64URL(Array(Insecure.SHA1.hash(data: one.certificate.der))))
        #expect(one.certificate.x5tS256 == JOSE.base64URL(Array(SHA256.hash(data: one.certificate.der))))
    }

    @Test("a CA certificate in front of the leaf: the leaf is the one whose key matches, the CA becomes the chain")
    func chain() throws {
        let o = OpenSSL()
        try o.selfSigned("ca")
        try o.selfSigned("leaf")
        let credential = try CertificateImport.fromPEM(secret(o.text("ca.crt") + o.text("leaf.crt") + o.text("leaf.key")))
        #expect(credential.certificate.sha1Hex == (try o.sha1("leaf.crt")))
        #expect(credential.chain.count == 1)
    }

    @Test("PKCS#12: OpenSSL 3's default (AES, PBKDF2) and the legacy RC2 form; the wrong password is refused")
    func pfx() throws {
        let o = OpenSSL()
        try o.selfSigned("app")
        try o.run(["pkcs12", "-export", "-in", "app.crt", "-inkey", "app.key", "-out", "app.pfx", "-passout", "pass:pfx-pass-1"])
        try o.run(["pkcs12", "-export", "-legacy", "-in", "app.crt", "-inkey", "app.key", "-out", "legacy.pfx", "-passout", "pass:pfx-pass-1"])
        for file in ["app.pfx", "legacy.pfx"] {
            let c = try CertificateImport.fromPKCS12(o.bytes(file), password: secret("pfx-pass-1"))
            #expect(c.certificate.sha1Hex == (try o.sha1("app.crt")), "\(file)")
        }
        #expect(code { _ = try CertificateImport.fromPKCS12(o.bytes("app.pfx"), password: secret("wrong")) } == "cert.pfx")
        #expect(code { _ = try CertificateImport.fromPKCS12(o.bytes("app.crt"), password: secret("pfx-pass-1")) } == "cert.pfx")
    }

    @Test("bad inputs get their own error", arguments: [
        "mismatch", "small", "encrypted", "no-key", "no-cert", "two-keys", "bad-base64", "no-end", "garbage-key",
    ])
    func refused(_ kind: String) throws {
        let o = OpenSSL()
        try o.selfSigned("a")
        try o.selfSigned("b")
        let expected: [String: String] = [
            "mismatch": "cert.mismatch", "small": "cert.key_size", "encrypted": "cert.key_encrypted", "no-key": "cert.key_missing",
            "no-cert": "cert.missing", "two-keys": "cert.key_missing", "bad-base64": "pem.invalid", "no-end": "pem.invalid",
            "garbage-key": "cert.key_invalid",
        ]
        let got = code {
            switch kind {
            case "mismatch": _ = try CertificateImport.fromPEM(o.bytes("a.crt"), keyPEM: o.bytes("b.key"))
            case "small":
                try o.selfSigned("s", bits: 1024)
                _ = try CertificateImport.fromPEM(o.bytes("s.crt"), keyPEM: o.bytes("s.key"))
            case "encrypted":
                try o.run(["pkcs8", "-topk8", "-in", "a.key", "-out", "enc.key", "-passout", "pass:x-pass"])
                _ = try CertificateImport.fromPEM(o.bytes("a.crt"), keyPEM: o.bytes("enc.key"))
            case "no-key": _ = try CertificateImport.fromPEM(o.bytes("a.crt"))
            case "no-cert": _ = try CertificateImport.fromPEM(o.bytes("a.key"))
            case "two-keys": _ = try CertificateImport.fromPEM(secret(o.text("a.crt") + o.text("a.key") + o.text("b.key")))
            case "bad-base64": _ = try CertificateImport.fromPEM(secret("-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n"))
            case "no-end": _ = try CertificateImport.fromPEM(secret("-----BEGIN CERTIFICATE-----\nAAAA\n"))
            default:
                _ = try CertificateImport.fromPEM(secret(o.text("a.crt") + "-----BEGIN PRIVATE KEY-----\nAAAAAAAA\n-----END PRIVATE KEY-----\n"))
            }
        }
        #expect(got == expected[kind], "\(kind)")
    }

    @Test("generation: a key of the asked size, a self-signed certificate openssl reads, the validity asked for")
    func generate() throws {
        let now = Date()
        let c = try CertificateGeneration.generate(subject: "CN=payroll, O=Contoso, C=nl", validDays: 90, keyBits: 2048, now: now)
        #expect(c.certificate.keyBits == 2048)
        #expect(abs(c.certificate.notAfter.timeIntervalSince(now) - 90 * 86400 + 60) < 2)
        let o = OpenSSL()
        try Data(c.certificate.pem.utf8).write(to: URL(fileURLWithPath: o.dir.file("g.crt")))
        let text = try o.run(["x509", "-in", "g.crt", "-noout", "-subject", "-ext", "keyUsage"])
        #expect(text.contains("CN = payroll") && text.contains("O = Contoso") && text.contains("C = NL"), "\(text)")
        #expect(text.contains("Digital Signature"))
        #expect(c.certificate.sha1Hex == (try o.sha1("g.crt")))
        for bad in ["O=NoCommonName", "CN=a\\,b", "CN=", "XX=y", "CN=a, C=Netherlands"] {
            #expect(code { _ = try CertificateGeneration.generate(subject: bad, validDays: 30, keyBits: 2048) } == "cert.subject", "\(bad)")
        }
        #expect(code { _ = try CertificateGeneration.generate(subject: "CN=x", validDays: 30, keyBits: 1024) } == "cert.key_size")
        #expect(code { _ = try CertificateGeneration.generate(subject: "CN=x", validDays: 0, keyBits: 2048) } == "cert.validity")
    }
}

@Suite("client assertions and key proofs (JOSE)")
struct AssertionTests {
    static let credential = Result { try CertificateGeneration.generate(subject: "CN=jose", validDays: 30, keyBits: 2048) }

    func parts(_ token: SecretBytes) throws -> (header: [String: Any], claims: [String: Any], input: String, signature: Data) {
        let text = token.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        let p = text.split(separator: ".").map(String.init)
        try #require(p.count == 3)
        func decode(_ s: String) -> Data {
            var b = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while b.count % 4 != 0 { b += "=" }
            return Data(base64Encoded: b) ?? Data()
        }
        let header = try JSONSerialization.jsonObject(with: decode(p[0])) as? [String: Any] ?? [:]
        let claims = try JSONSerialization.jsonObject(with: decode(p[1])) as? [String: Any] ?? [:]
        return (header, claims, p[0] + "." + p[1], decode(p[2]))
    }

    @Test("PS256 with x5t#S256 by default; RS256 with x5t; x5c on request; the claims in docs/protocols.md, section Entra: certificate assertions")
    func assertion() throws {
        let c = try Self.credential.get()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let audience = "https://127.0.0.1:8443/11111111-1111-1111-1111-111111111111/oauth2/v2.0/token"
        let publicKey = try _RSA.Signing.PublicKey(derRepresentation: try CertificateInfo.spki(c.certificate.der))
        for alg in JOSE.Algorithm.allCases {
            let token = try JOSE.clientAssertion(c, clientID: "22222222-2222-2222-2222-222222222222", audience: audience, algorithm: alg,
                                                 sendX5C: alg == .rs256, now: now)
            let (h, claims, input, sig) = try parts(token)
            #expect(h["alg"] as? String == alg.rawValue && h["typ"] as? String == "JWT")
            if alg == .ps256 {
                #expect(h["x5t#S256"] as? String == c.certificate.x5tS256 && h["x5t"] == nil && h["x5c"] == nil)
            } else {
                #expect(h["x5t"] as? String == c.certificate.x5t && h["x5t#S256"] == nil)
                #expect(h["x5c"] as? [String] == [Data(c.certificate.der).base64EncodedString()])
            }
            #expect(claims["aud"] as? String == audience)
            #expect(claims["iss"] as? String == "22222222-2222-2222-2222-222222222222" && claims["sub"] as? String == claims["iss"] as? String)
            #expect(claims["iat"] as? Int == 1_800_000_000 && claims["nbf"] as? Int == 1_800_000_000 && claims["exp"] as? Int == 1_800_000_600)
            #expect(UUID(uuidString: claims["jti"] as? String ?? "") != nil)
            let padding: _RSA.Signing.Padding = alg == .ps256 ? .PSS : .insecurePKCS1v1_5
            #expect(publicKey.isValidSignature(.init(rawRepresentation: sig), for: SHA256.hash(data: Data(input.utf8)), padding: padding))
            // The other padding must not verify: the algorithm named is the one used.
            #expect(!publicKey.isValidSignature(.init(rawRepresentation: sig), for: SHA256.hash(data: Data(input.utf8)),
                                                padding: alg == .ps256 ? .insecurePKCS1v1_5 : .PSS))
        }
        let a = try parts(try JOSE.clientAssertion(c, clientID: "x", audience: audience, now: now)).claims["jti"] as? String
        let b = try parts(try JOSE.clientAssertion(c, clientID: "x", audience: audience, now: now)).claims["jti"] as? String
        #expect(a != b, "every assertion has a fresh jti")
    }

    @Test("addKey's proof: aud is Azure AD Graph, iss the application's object id, ten minutes, RS256")
    func proof() throws {
        let c = try Self.credential.get()
        let (h, claims, _, _) = try parts(try JOSE.keyProof(c, applicationObjectID: "33333333-3333-3333-3333-333333333333",
                                                            now: Date(timeIntervalSince1970: 1_800_000_000)))
        #expect(h["alg"] as? String == "RS256" && h["x5t"] as? String == c.certificate.x5t)
        #expect(claims["aud"] as? String == "00000002-0000-0000-c000-000000000000")
        #expect(claims["iss"] as? String == "33333333-3333-3333-3333-333333333333")
        #expect((claims["exp"] as? Int ?? 0) - (claims["nbf"] as? Int ?? 0) == 600)
    }
}
