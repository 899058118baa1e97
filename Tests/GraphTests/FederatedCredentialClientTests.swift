import EntraEmulator
import Foundation
import Graph
import Testing
import VaultErrors
import VaultHTTP
import VaultTestSupport

/// Graph's federatedIdentityCredentials through vault's client, against the emulator; and Entra's rules, checked by
/// vault before Graph is called, agreeing with the emulator's.
@Suite("Federated identity credentials through Graph, and Entra's rules for them", .timeLimit(.minutes(3)))
struct FederatedCredentialClientTests {
    let emu: EmulatorHarness
    let apps: Applications
    static let issuer = "https://issuer.example.com/v1/identity/oidc"

    init() throws {
        emu = try EmulatorHarness.start(EmulatorConfig(users: 1))
        struct Token: AccessTokenSource {
            let value: String
            func accessToken(rejecting: String?) throws -> String { value }
        }
        let transport = try CurlTransport(options: HTTPOptions(caBundle: emu.caPath))
        apps = Applications(client: GraphClient(root: emu.info.graph, transport: transport, tokens: Token(value: try emu.accessToken())))
    }

    func fic(_ name: String, issuer: String = issuer, subject: String = "entity-1", audience: String = "api://AzureADTokenExchange") -> FederatedIdentityCredential {
        FederatedIdentityCredential(name: name, issuer: issuer, subject: subject, audiences: [audience])
    }

    @Test("create, list, read by name, delete: what Graph answers is what vault reads")
    func roundTrip() throws {
        let app = emu.app.clientID
        let made = try apps.addFederatedCredential(appID: app, fic("vault-host-1", subject: "sub-a"))
        #expect(Applications.isKeyID(made.id) && made.name == "vault-host-1" && made.issuer == Self.issuer && made.subject == "sub-a")
        #expect(made.audiences == ["api://AzureADTokenExchange"])
        #expect(try apps.federatedCredentials(appID: app).map(\.name) == ["vault-host-1"])
        #expect(try apps.federatedCredential(appID: app, name: "vault-host-1")?.id == made.id)
        #expect(try apps.federatedCredential(appID: app, name: "absent-name") == nil)
        #expect(try apps.removeFederatedCredential(appID: app, idOrName: "vault-host-1") == .removed)
        #expect(try apps.removeFederatedCredential(appID: app, idOrName: "vault-host-1") == .notFound)
        #expect(try apps.federatedCredentials(appID: app).isEmpty)
    }

    @Test("every rule vault checks first is one Graph enforces too: each bad credential is refused by both", arguments: [
        ("ab", issuer, "s", "api://AzureADTokenExchange", "name"),
        ("-lead", issuer, "s", "api://AzureADTokenExchange", "name"),
        ("has space", issuer, "s", "api://AzureADTokenExchange", "name"),
        ("wild", issuer, "sub*", "api://AzureADTokenExchange", "wildcard"),
        ("long", issuer, String(repeating: "x", count: 601), "api://AzureADTokenExchange", "length"),
        ("aud", issuer, "s", "api://SomethingElse", "audience"),
        ("usgov", issuer, "s", "api://AzureADTokenExchangeUSGov", "audience"),
    ])
    func rulesAgree(_ name: String, _ issuer: String, _ subject: String, _ audience: String, _ rule: String) throws {
        let bad = fic(name, issuer: issuer, subject: subject, audience: audience)
        let problem = try #require(FederatedCredentialRules.problem(bad, cloud: "global", existing: []))
        #expect(problem.code == "federated.rule" && problem.context["case"] == rule, "\(problem)")
        let refused = try #require(throws: VaultError.self) { _ = try apps.addFederatedCredential(appID: emu.app.clientID, bad) }
        #expect(refused.code == "graph.bad_request", "\(refused)")
        #expect(try apps.federatedCredentials(appID: emu.app.clientID).isEmpty)
    }

    @Test("a second credential with the same name, or the same issuer and subject, or a 21st: refused by vault and by Graph")
    func uniquenessAndCount() throws {
        let app = emu.app.clientID
        _ = try apps.addFederatedCredential(appID: app, fic("first", subject: "one"))
        let existing = try apps.federatedCredentials(appID: app)
        #expect(FederatedCredentialRules.problem(fic("FIRST", subject: "two"), cloud: "global", existing: existing)?.context["case"] == "duplicate_name")
        #expect(FederatedCredentialRules.problem(fic("second", subject: "one"), cloud: "global", existing: existing)?.context["case"] == "duplicate_subject")
        #expect(FederatedCredentialRules.problem(fic("second", subject: "two"), cloud: "global", existing: existing) == nil)
        // A name taken is a conflict (409), never proof that nothing was made: the first send of this very request
        // may be what took it, so a rotation keeps its journal and looks for it by name.
        let taken = try #require(throws: VaultError.self) { _ = try apps.addFederatedCredential(appID: app, fic("first", subject: "two")) }
        #expect(taken.code == "graph.conflict", "\(taken)")
        #expect(throws: VaultError.self) { _ = try apps.addFederatedCredential(appID: app, fic("second", subject: "one")) }
        for i in 2...20 { _ = try apps.addFederatedCredential(appID: app, fic("fic-\(i)", subject: "s\(i)")) }
        let full = try apps.federatedCredentials(appID: app)
        #expect(full.count == 20)
        #expect(FederatedCredentialRules.problem(fic("n21", subject: "s21"), cloud: "global", existing: full)?.context["case"] == "count")
        #expect(throws: VaultError.self) { _ = try apps.addFederatedCredential(appID: app, fic("n21", subject: "s21")) }
        #expect(try apps.federatedCredentials(appID: app).count == 20)
    }

    @Test("vault's own rule: an issuer that is not an https URL is refused (Entra fetches its keys over HTTPS only, so such a credential could never work)",
          arguments: ["http://issuer.example.com", "issuer.example.com", "https://", "https://a.example/x?y=1", " https://a.example"])
    func httpsIssuer(_ issuer: String) {
        let p = FederatedCredentialRules.problem(fic("plain", issuer: issuer), cloud: "global", existing: [])
        #expect(p?.context["case"] == "issuer" || p?.context["case"] == "whitespace", "\(issuer): \(String(describing: p))")
        #expect(FederatedCredentialRules.problem(fic("plain", issuer: "https://a.example/tenant/guid/"), cloud: "global", existing: []) == nil)
    }

    @Test("the audience follows the app's cloud")
    func audiences() {
        #expect(FederatedCredentialRules.audience(cloud: "global") == "api://AzureADTokenExchange")
        #expect(FederatedCredentialRules.audience(cloud: "usgov") == "api://AzureADTokenExchangeUSGov")
        #expect(FederatedCredentialRules.audience(cloud: "china") == "api://AzureADTokenExchangeChina")
        #expect(FederatedCredentialRules.problem(fic("gov", audience: "api://AzureADTokenExchangeUSGov"), cloud: "usgov", existing: []) == nil)
    }
}
