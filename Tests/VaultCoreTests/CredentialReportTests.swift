import FoundationEssentials
import Graph
import Testing
import VaultCore
import VaultCrypto
import VaultErrors
import VaultTokens

/// The report's rules as pure functions of one object, at a fixed time.
@Suite struct CredentialReportTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let day = 86_400.0
    static let policy = ReportPolicy(within: 30 * day, maxLifetime: 180 * day, now: now)

    static func password(_ id: String, start: Double, end: Double, name: String? = nil, hint: String? = nil) -> ListedCredential {
        ListedCredential(kind: .password, keyID: id, displayName: name, hint: hint, start: now.addingTimeInterval(start * day),
                         end: now.addingTimeInterval(end * day))
    }
    static func certificate(_ id: String, start: Double, end: Double, thumbprint: String? = nil) -> ListedCredential {
        ListedCredential(kind: .certificate, keyID: id, thumbprint: thumbprint, start: now.addingTimeInterval(start * day), end: now.addingTimeInterval(end * day))
    }
    static func fic(_ id: String, issuer: String, subject: String) -> ListedCredential {
        ListedCredential(kind: .federated, keyID: id, issuer: issuer, subject: subject)
    }
    static func findings(_ creds: [ListedCredential], type: CredentialHolder.ObjectType = .application,
                         managed: [ManagedCredential] = []) -> [String: [CredentialFinding]] {
        let holder = CredentialHolder(objectType: type, id: "o", appID: "a", displayName: "x", credentials: creds)
        var out: [String: [CredentialFinding]] = [:]
        for r in CredentialFindings.evaluate(holder, policy: policy, managed: managed) { out[r.credential.keyID] = r.findings }
        return out
    }

    @Test func expiredAndExpiring() {
        #expect(Self.findings([Self.password("gone", start: -100, end: -1)])["gone"] == [.expired])
        #expect(Self.findings([Self.password("soon", start: -100, end: 29)])["soon"] == [.expiring])
        #expect(Self.findings([Self.password("later", start: -100, end: 31)])["later"] == [])
        #expect(Self.findings([Self.certificate("c", start: -10, end: 5)])["c"] == [.expiring])
    }

    @Test func longLivedIsStrictlyOverThePolicy() {
        let f = Self.findings([Self.certificate("exact", start: -90, end: 90), Self.certificate("over", start: -90, end: 91)])
        #expect(f["exact"] == [])
        #expect(f["over"] == [.longLived])
    }

    @Test func severalActiveSecretsOnly() {
        let f = Self.findings([Self.password("a", start: -10, end: 60), Self.password("b", start: -5, end: 60),
                               Self.password("old", start: -100, end: -1), Self.password("future", start: 5, end: 60)])
        #expect(f["a"] == [.severalSecrets] && f["b"] == [.severalSecrets])
        #expect(f["old"] == [.expired] && f["future"] == [])
        #expect(Self.findings([Self.password("a", start: -10, end: 60), Self.password("old", start: -100, end: -1)])["a"] == [])
    }

    @Test func secretWithStrongerNeedsAValidCertificateOrAFIC() {
        #expect(Self.findings([Self.password("s", start: -10, end: 60), Self.certificate("c", start: -10, end: 60)])["s"] == [.secretWithStronger])
        #expect(Self.findings([Self.password("s", start: -10, end: 60), Self.certificate("c", start: -100, end: -1)])["s"] == [])
        #expect(Self.findings([Self.password("s", start: -10, end: 60),
                               Self.fic("f", issuer: "https://bao.example/v1/identity/oidc", subject: "2d3e7a4c-5b6a-4f1e-9c8d-7e6f5a4b3c2d")])["s"] == [.secretWithStronger])
        // An expired secret is reported as expired, not as made redundant.
        #expect(Self.findings([Self.password("s", start: -100, end: -1), Self.certificate("c", start: -10, end: 60)])["s"] == [.expired])
    }

    @Test func managedByVaultByKeyIDHintOrThumbprint() {
        let managed = [ManagedCredential(app: "mail", clientID: "a", keyIDs: ["k1"], secretHint: "abc", thumbprint: "AB12")]
        let f = Self.findings([Self.password("k1", start: -10, end: 60), Self.password("k2", start: -10, end: 60, hint: "abc"),
                               Self.certificate("c", start: -10, end: 60, thumbprint: "AB12")], managed: managed)
        #expect(f["k1"]!.contains(.managedByVault) && f["k2"]!.contains(.managedByVault) && f["c"] == [.managedByVault])
        // A hint shared by two passwords proves nothing; a service principal is never matched by hint.
        let twice = Self.findings([Self.password("x", start: -10, end: 60, hint: "abc"), Self.password("y", start: -10, end: 60, hint: "abc")],
                                  managed: [ManagedCredential(app: "mail", clientID: "a", keyIDs: [], secretHint: "abc", thumbprint: nil)])
        #expect(twice["x"] == [.severalSecrets] && twice["y"] == [.severalSecrets])
        let sp = Self.findings([Self.password("x", start: -10, end: 60, hint: "abc")], type: .servicePrincipal,
                               managed: [ManagedCredential(app: "mail", clientID: "a", keyIDs: [], secretHint: "abc", thumbprint: nil)])
        #expect(sp["x"] == [])
    }

    @Test func rotationDueIsTheEndLessTheWindow() throws {
        let holder = CredentialHolder(objectType: .application, id: "o", appID: "a", displayName: "x",
                                      credentials: [Self.password("k1", start: -10, end: 100)])
        let records = CredentialFindings.evaluate(holder, policy: Self.policy,
                                                  managed: [ManagedCredential(app: "m", clientID: "a", keyIDs: ["k1"], secretHint: nil, thumbprint: nil)])
        let r = try #require(records.first)
        #expect(r.managedBy == "m")
        #expect(r.rotationDue == Self.now.addingTimeInterval(70 * Self.day))
    }

    @Test(arguments: [
        ("vault 2026-03-01 1a2b3c4d", true), ("nightly (vault 1a2b3c4d)", true), ("a b (vault 0000ffff)", true),
        ("vault 2026-03-01", false), ("vault 2026-3-01 1a2b3c4d", false), ("vault 2026-03-01 1A2B3C4D", false),
        ("nightly (vault 1a2b3c4)", false), ("(vault 1a2b3c4d)", false), ("vault-2026-01", false), ("", false),
    ])
    func vaultRotationNames(name: String, expected: Bool) {
        #expect(CredentialFindings.isVaultRotationName(name) == expected)
    }

    @Test(arguments: [
        ("https://token.actions.githubusercontent.com", "repo:contoso/web:ref:refs/heads/main", true),
        ("https://token.actions.githubusercontent.com", "repo:contoso/web:environment:prod", true),
        ("https://token.actions.githubusercontent.com", "repo:contoso@5544123/web@821093847:ref:refs/heads/main", false),
        ("https://token.actions.githubusercontent.com", "repo:contoso@5544123/web:ref:refs/heads/main", true),
        ("https://token.actions.githubusercontent.com", "repo:contoso@x/web@1:ref:refs/heads/main", true),
        ("https://gitlab.com", "project_path:group/project:ref_type:branch:ref:main", true),
        ("https://app.terraform.io", "organization:contoso:project:p:workspace:w:run_phase:apply", true),
        ("https://westeurope.oic.prod-aks.azure.com/t/u/", "system:serviceaccount:payments:api", false),
        ("https://bao.example/v1/identity/oidc", "2d3e7a4c-5b6a-4f1e-9c8d-7e6f5a4b3c2d", false),
        ("https://example.com", "repo:contoso/web:ref:refs/heads/main", false),
    ])
    func mutableSubjects(issuer: String, subject: String, expected: Bool) {
        #expect(CredentialFindings.isMutableSubject(issuer: issuer, subject: subject) == expected)
    }

    @Test func severities() {
        #expect(CredentialFinding.expired.severity == .critical && CredentialFinding.expiring.severity == .critical)
        #expect([CredentialFinding.longLived, .severalSecrets, .secretWithStronger, .mutableSubject].allSatisfy { $0.severity == .warning })
        #expect(CredentialFinding.managedByVault.severity == .info)
    }

    @Test func readsAGraphItem() throws {
        let body = Array(#"""
        {"value":[{"id":"O1","appId":"A1","displayName":"web","passwordCredentials":[{"customKeyIdentifier":null,"displayName":"x","endDateTime":"2027-01-01T00:00:00Z","hint":"abc","keyId":"K1","secretText":null,"startDateTime":"2026-01-01T00:00:00.1234567Z"}],
         "keyCredentials":[{"customKeyIdentifier":"ab12","keyId":"K2","endDateTime":"2027-01-01T00:00:00Z","startDateTime":"2026-01-01T00:00:00Z","type":"AsymmetricX509Cert","usage":"Verify","key":null}],
         "federatedIdentityCredentials":[{"id":"F1","name":"gh","issuer":"https://token.actions.githubusercontent.com","subject":"repo:a/b:ref:refs/heads/main","audiences":["api://AzureADTokenExchange"]}]},
         {"keyCredentials":[],"\u0069d":"O2","displayName":"esc\u00e9","passwordCredentials":[{"endDateTime":"2027-01-01T00:00:00Z","keyId":"K3"}]}]}
        """#.utf8)
        let page = try GraphPage(body: body)
        #expect(page.items.count == 2)
        let h = try DirectoryCredentials.holder(.application, page: page, item: 0)
        #expect(h.id == "o1" && h.appID == "a1" && h.displayName == "web")
        #expect(h.credentials.map(\.kind) == [.password, .certificate, .federated])
        #expect(h.credentials[0].keyID == "k1" && h.credentials[0].hint == "abc" && h.credentials[0].start != nil)
        #expect(h.credentials[1].thumbprint == "AB12")
        #expect(h.credentials[2].subject == "repo:a/b:ref:refs/heads/main")
        // Members in another order, an escaped name: the page was validated once, its items are only split.
        let h2 = try DirectoryCredentials.holder(.application, page: page, item: 1)
        #expect(h2.id == "o2" && h2.displayName == "escé" && h2.credentials.map(\.keyID) == ["k3"])
    }

    @Test func aPageIsValidatedWholeBeforeItsItemsAreSplit() {
        // A duplicate member deep inside an item, or a bad escape, fails the page: the split never sees it.
        for bad in [#"{"value":[{"id":"a","passwordCredentials":[{"keyId":"k","keyId":"k2"}]}]}"#,
                    #"{"value":[{"id":"a\x"}]}"#, #"{"value":[{"id":"a"},]}"#, #"{"value":{"id":"a"}}"#] {
            #expect(throws: VaultError.self) { try GraphPage(body: Array(bad.utf8)) }
        }
    }
}

@Suite struct ServeMetricsTests {
    @Test(arguments: [("AADSTS7000215: Invalid client secret provided.", "AADSTS7000xxx"), ("error AADSTS700016 x", "AADSTS700xxx"),
                      ("AADSTS50001", "AADSTS50xxx"), ("HTTP 503", "other"), ("AADSTS12", "other")])
    func families(text: String, family: String) {
        #expect(ServeMetrics.family(text) == family)
    }

    @Test func rendersCumulativeBucketsAndNoRefusedLabel() {
        let m = ServeMetrics(apps: ["demo"])
        m.tokenServed(app: "demo", resource: "https://graph.microsoft.com", source: .fetch)
        m.entraRequest(app: "demo", seconds: 0.04, failed: false, errorText: nil, at: 1_800_000_000)
        m.entraRequest(app: "demo", seconds: 3, failed: true, errorText: "AADSTS7000215: Invalid client secret", at: 1_800_000_001)
        m.auditWriteFailed()
        let text = m.render(.text)
        #expect(text.contains(#"vault_tokens_served_total{app="demo",resource="https://graph.microsoft.com",source="fetch"} 1"#))
        #expect(text.contains(#"vault_entra_request_duration_seconds_bucket{le="0.025"} 0"#))
        #expect(text.contains(#"vault_entra_request_duration_seconds_bucket{le="0.05"} 1"#))
        #expect(text.contains(#"vault_entra_request_duration_seconds_bucket{le="5"} 2"#))
        #expect(text.contains(#"vault_entra_request_duration_seconds_bucket{le="+Inf"} 2"#))
        #expect(text.contains(#"vault_entra_errors_total{app="demo",family="AADSTS7000xxx"} 1"#))
        #expect(text.contains("vault_token_last_refresh_timestamp_seconds{app=\"demo\"} 1800000000"))
        #expect(text.contains("vault_audit_write_failures_total 1"))
        #expect(!text.contains("Invalid client secret"))
        #expect(text.contains("# TYPE vault_tokens_served_total counter"))
        #expect(m.render(.openMetrics).contains("# TYPE vault_tokens_served counter"))
    }
}

@Suite struct GraphTimestampsTests {
    @Test func agreesWithTheFormatterOverFiftyYears() {
        var t = -86_400.0 * 365 * 5
        while t < 86_400.0 * 365 * 45 {
            let d = Date(timeIntervalSince1970: t)
            let text = GraphDates.format(d)
            #expect(GraphTimestamps.format(d) == text)
            #expect(GraphTimestamps.parse(text) == GraphDates.parse(text))
            t += 86_400 * 13.37 + 3_607
        }
    }

    @Test func fractionsAndRefusals() {
        #expect(abs(GraphTimestamps.parse("2026-01-01T10:00:00.1234567Z")!.timeIntervalSince1970 - 1_767_261_600.1234567) < 1e-6)
        #expect(GraphTimestamps.parse("2026-13-01T10:00:00Z") == nil)
        #expect(GraphTimestamps.parse("2026-01-01T10:00:00.Z") == nil)
        #expect(GraphTimestamps.parse("2026-01-01 10:00:00Z") == nil)
    }
}
