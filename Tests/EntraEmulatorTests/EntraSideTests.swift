import Crypto
import EntraEmulator
import Foundation
import Testing
import VaultTestSupport
import X509
import _CryptoExtras

@Suite("Emulator: Entra ID side", .timeLimit(.minutes(3)))
struct EntraSideTests {
    let emu: EmulatorHarness
    init() throws { emu = try EmulatorHarness.start(EmulatorConfig(users: 10)) }

    @Test("OIDC discovery names the tenant GUID in token_endpoint, also for a domain authority")
    func discovery() throws {
        let a = try emu.call("GET", "/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration")
        #expect(a.status == 200)
        #expect(a.json["token_endpoint"] as? String == "\(emu.base)/\(emu.info.tenantID)/oauth2/v2.0/token")
        #expect(a.json["authorization_endpoint"] as? String == "\(emu.base)/\(emu.info.tenantID)/oauth2/v2.0/authorize")
        #expect(a.json["jwks_uri"] as? String == "\(emu.base)/\(emu.info.tenantID)/discovery/v2.0/keys")
        #expect(a.json["token_endpoint_auth_methods_supported"] as? [String] == ["client_secret_post", "private_key_jwt", "client_secret_basic"])
    }

    @Test("unknown tenant: the AADSTS90002 shape, on discovery and on the token endpoint")
    func unknownTenant() throws {
        for a in [try emu.call("GET", "/nowhere.example/v2.0/.well-known/openid-configuration", headers: [("client-request-id", "c0ffee00-0000-0000-0000-000000000001")]),
                  try emu.tokenRequest([("client_id", emu.app.clientID), ("grant_type", "client_credentials")], tenant: "nowhere.example",
                                       headers: [("client-request-id", "c0ffee00-0000-0000-0000-000000000001")])] {
            #expect(a.status == 400)
            #expect(a.json["error"] as? String == "invalid_tenant")
            #expect(a.json["error_codes"] as? [Int] == [90002])
            #expect(a.json["correlation_id"] as? String == "c0ffee00-0000-0000-0000-000000000001")
            let description = try #require(a.json["error_description"] as? String)
            #expect(description.hasPrefix("AADSTS90002: Tenant 'nowhere.example' not found."))
            #expect(description.contains("\r\nTrace ID: \(a.json["trace_id"] as! String)\r\nCorrelation ID: c0ffee00-0000-0000-0000-000000000001\r\nTimestamp: "))
            let ts = try #require(a.json["timestamp"] as? String)
            #expect(ts.range(of: #"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$"#, options: .regularExpression) != nil)
        }
    }

    @Test("instance discovery answers for the emulator host and refuses others")
    func instanceDiscovery() throws {
        let ok = try emu.call("GET", "/common/discovery/instance?api-version=1.1&authorization_endpoint=\(emu.base)/\(emu.info.tenantID)/oauth2/v2.0/authorize")
        #expect(ok.status == 200)
        #expect(ok.json["tenant_discovery_endpoint"] as? String == "\(emu.base)/\(emu.info.tenantID)/v2.0/.well-known/openid-configuration")
        let bad = try emu.call("GET", "/common/discovery/instance?api-version=1.1&authorization_endpoint=https://evil.example/x/oauth2/v2.0/authorize")
        #expect(bad.json["error"] as? String == "invalid_instance")
    }

    @Test("client_secret_post: an RS256 v1.0 app token that verifies with the JWKS key")
    func secretPost() throws {
        let a = try emu.secretToken()
        #expect(a.status == 200)
        #expect(a.json["token_type"] as? String == "Bearer")
        #expect(a.json["expires_in"] as? Int == 3599)
        #expect(a.json["ext_expires_in"] as? Int == 3599)
        #expect(a.json["refresh_in"] == nil)
        #expect(a.header("Retry-After") == nil)
        let token = try #require(a.json["access_token"] as? String)
        let c = claims(of: token)
        #expect(c["aud"] as? String == "https://graph.microsoft.com")
        #expect(c["iss"] as? String == "https://sts.windows.net/\(emu.info.tenantID)/")
        #expect(c["tid"] as? String == emu.info.tenantID)
        #expect(c["appid"] as? String == emu.app.clientID)
        #expect(c["appidacr"] as? String == "1")
        #expect(c["roles"] as? [String] == ["User.Read.All", "Application.ReadWrite.OwnedBy"])
        #expect((c["exp"] as? Int ?? 0) - (c["iat"] as? Int ?? 0) == 3599)
        #expect(c["nbf"] as? Int == c["iat"] as? Int)
        #expect((c["uti"] as? String)?.isEmpty == false)

        let jwks = try emu.call("GET", "/\(emu.info.tenantID)/discovery/v2.0/keys").json
        let key = try #require((jwks["keys"] as? [[String: Any]])?.first)
        func b64(_ s: String) -> Data {
            var b = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while b.count % 4 != 0 { b += "=" }
            return Data(base64Encoded: b)!
        }
        let publicKey = try _RSA.Signing.PublicKey(n: b64(key["n"] as! String), e: b64(key["e"] as! String))
        let parts = token.split(separator: ".")
        let valid = publicKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: b64(String(parts[2]))),
                                               for: Data("\(parts[0]).\(parts[1])".utf8), padding: .insecurePKCS1v1_5)
        #expect(valid)
    }

    @Test("client_secret_basic is accepted too")
    func secretBasic() throws {
        let secret = try #require(emu.app.secret)
        let basic = Data("\(emu.app.clientID):\(EmulatorHarness.formEncode(secret))".utf8).base64EncodedString()
        let a = try emu.tokenRequest([("grant_type", "client_credentials"), ("scope", "https://graph.microsoft.com/.default")],
                                     headers: [("Authorization", "Basic \(basic)")])
        #expect(a.status == 200, "\(a.text)")
    }

    @Test("tokens of 2 h or more carry refresh_in as an integer")
    func refreshIn() throws {
        try emu.admin("POST", "/settings", ["token_lifetime": 7200])
        let a = try emu.secretToken()
        #expect(a.json["expires_in"] as? Int == 7200)
        #expect(a.json["refresh_in"] as? Int == 3600)
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var label: String
        var status: Int
        var error: String
        var code: Int
        var testDescription: String { label }
    }

    @Test("the reference error table", arguments: [
        ErrorCase(label: "wrong secret", status: 401, error: "invalid_client", code: 7000215),
        ErrorCase(label: "expired secret", status: 401, error: "invalid_client", code: 7000222),
        ErrorCase(label: "unknown app", status: 400, error: "unauthorized_client", code: 700016),
        ErrorCase(label: "scope without /.default", status: 400, error: "invalid_scope", code: 1002012),
        ErrorCase(label: "malformed scope", status: 400, error: "invalid_scope", code: 70011),
        ErrorCase(label: "no credential", status: 401, error: "invalid_client", code: 7000218),
        ErrorCase(label: "unknown resource", status: 400, error: "invalid_resource", code: 500011),
        ErrorCase(label: "unsupported grant", status: 400, error: "unsupported_grant_type", code: 70003),
    ])
    func errors(_ c: ErrorCase) throws {
        let secret = try #require(emu.app.secret)
        var fields: [(String, String)] = [("client_id", emu.app.clientID), ("grant_type", "client_credentials"),
                                          ("client_secret", secret), ("scope", "https://graph.microsoft.com/.default")]
        switch c.code {
        case 7000215: fields[2].1 = "Wrong8Q~wrong"
        case 7000222: try emu.admin("POST", "/apps/\(emu.app.clientID)/expire-secret")
        case 700016: fields[0].1 = "99999999-9999-9999-9999-999999999999"
        case 1002012: fields[3].1 = "https://graph.microsoft.com/User.Read.All"
        case 70011: fields[3].1 = "https://graph.microsoft.com/.default https://vault.example/.default"
        case 7000218: fields.remove(at: 2)
        case 500011: fields[3].1 = "https://vault.example/.default"
        default: fields[1].1 = "password"
        }
        let a = try emu.tokenRequest(fields, headers: [("client-request-id", "11111111-2222-3333-4444-555555555555")])
        #expect(a.status == c.status, "\(a.text)")
        #expect(a.json["error"] as? String == c.error)
        #expect(a.json["error_codes"] as? [Int] == [c.code])
        #expect((a.json["error_description"] as? String)?.hasPrefix("AADSTS\(c.code): ") == true)
        #expect(a.json["correlation_id"] as? String == "11111111-2222-3333-4444-555555555555")
        #expect(a.json["trace_id"] is String && a.json["timestamp"] is String)
        #expect(a.json["access_token"] == nil)
    }

    @Test("a new secret is refused with 7000215 during the propagation delay, then accepted")
    func propagation() throws {
        try emu.admin("POST", "/settings", ["propagation_delay": 2])
        let token = try emu.accessToken()
        let added = try emu.graph("/v1.0/applications(appId='\(emu.app.clientID)')/addPassword", token: token, method: "POST", body: "{}")
        let secret = try #require(added.json["secretText"] as? String)
        #expect(try emu.secretToken(secret: secret).json["error_codes"] as? [Int] == [7000215])
        Thread.sleep(forTimeInterval: 2.2)
        #expect(try emu.secretToken(secret: secret).status == 200)
    }
}

/// private_key_jwt with a certificate the test makes.
@Suite("Emulator: certificate credentials (private_key_jwt)", .timeLimit(.minutes(3)))
struct AssertionTests {
    let emu: EmulatorHarness
    let key: _RSA.Signing.PrivateKey
    let der: [UInt8]
    static let clientID = "33333333-3333-3333-3333-333333333333"

    init() throws {
        key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let name = try DistinguishedName { CommonName("vault test app") }
        let cert = try Certificate(version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
                                   notValidBefore: Date().addingTimeInterval(-60), notValidAfter: Date().addingTimeInterval(3600),
                                   issuer: name, subject: name, signatureAlgorithm: .sha256WithRSAEncryption,
                                   extensions: Certificate.Extensions {}, issuerPrivateKey: .init(key))
        var s = DER.Serializer()
        try s.serialize(cert)
        der = s.serializedBytes
        let app = EmulatorConfig.App(name: "cert-app", clientID: Self.clientID, roles: ["User.Read.All"],
                                     certificates: [.init(pem: try cert.serializeAsPEM().pemString)])
        emu = try EmulatorHarness.start(EmulatorConfig(apps: [app], users: 10))
    }

    func b64url(_ d: some DataProtocol) -> String {
        Data(d).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    func assertion(alg: String = "PS256", sha1: Bool = false, aud: String? = nil, iss: String = clientID, jti: String = UUID().uuidString,
                   exp: Double = Date().timeIntervalSince1970 + 600, signer: _RSA.Signing.PrivateKey? = nil) throws -> String {
        var header: [String: Any] = ["alg": alg, "typ": "JWT"]
        // MSAL leaves the base64url padding on thumbprints; the emulator tolerates it.
        if sha1 { header["x5t"] = b64url(Data(Insecure.SHA1.hash(data: der))) + "=" } else { header["x5t#S256"] = b64url(Data(SHA256.hash(data: der))) + "=" }
        let now = Date().timeIntervalSince1970
        let claims: [String: Any] = ["aud": aud ?? "\(emu.base)/\(emu.info.tenantID)/oauth2/v2.0/token", "iss": iss, "sub": iss,
                                     "jti": jti, "iat": now, "exp": exp]
        let input = b64url(try JSONSerialization.data(withJSONObject: header)) + "." + b64url(try JSONSerialization.data(withJSONObject: claims))
        let sig = try (signer ?? key).signature(for: Data(input.utf8), padding: alg == "PS256" ? .PSS : .insecurePKCS1v1_5)
        return input + "." + b64url(sig.rawRepresentation)
    }

    func request(_ jwt: String) throws -> EmulatorHarness.Answer {
        try emu.tokenRequest([("client_id", Self.clientID), ("grant_type", "client_credentials"), ("client_assertion", jwt),
                              ("client_info", "1"), ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                              ("scope", "https://graph.microsoft.com/.default")])
    }

    @Test("PS256 with x5t#S256 and RS256 with x5t both work; appidacr is 2")
    func valid() throws {
        let ps = try request(try assertion())
        #expect(ps.status == 200, "\(ps.text)")
        #expect(claims(of: ps.json["access_token"] as! String)["appidacr"] as? String == "2")
        #expect(try request(try assertion(alg: "RS256", sha1: true)).status == 200)
    }

    @Test("rejected assertions: replayed jti, wrong audience, wrong issuer, expired, wrong key")
    func rejected() throws {
        let once = try assertion(jti: "fixed-jti")
        #expect(try request(once).status == 200)
        #expect(try request(once).json["error_codes"] as? [Int] == [700027])
        #expect(try request(try assertion(aud: "https://login.microsoftonline.com/x/oauth2/v2.0/token")).json["error_codes"] as? [Int] == [700027])
        #expect(try request(try assertion(iss: "44444444-4444-4444-4444-444444444444")).json["error_codes"] as? [Int] == [700021])
        #expect(try request(try assertion(exp: Date().timeIntervalSince1970 - 3600)).json["error_codes"] as? [Int] == [700024])
        let other = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let forged = try request(try assertion(signer: other))
        #expect(forged.status == 401)
        #expect(forged.json["error_codes"] as? [Int] == [700027])
    }
}

import SwiftASN1
