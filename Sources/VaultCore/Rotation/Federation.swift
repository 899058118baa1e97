import EntraAuth
import FoundationEssentials
import Graph
import VaultCrypto
import VaultErrors
import VaultRotation
import VaultTokens
import VaultRecords

/// What `vault federate` asks for: the app's new credential (an external token from `source`, trusted through a FIC
/// with `issuer`, `subject` and `audience`), and which of its other credentials go once that one is proven.
public struct FederationRequest: Sendable {
    public var source: String
    public var issuer: String?
    public var subject: String?
    public var audience: String?
    public var name: String?
    public var removeSecrets = false
    public var removeCertificates = false

    public init(source: String, issuer: String? = nil, subject: String? = nil, audience: String? = nil, name: String? = nil,
                removeSecrets: Bool = false, removeCertificates: Bool = false) {
        self.source = source
        self.issuer = issuer
        self.subject = subject
        self.audience = audience
        self.name = name
        self.removeSecrets = removeSecrets
        self.removeCertificates = removeCertificates
    }
}

extension RotationService {
    /// Moves an app to a federated credential, the third kind the rotation machine runs: the FIC is created through
    /// Graph (journaled first, under a unique name), proven with a token through it (waiting out Entra's propagation),
    /// committed as the app's stored credential, and only then are the app's passwords (`removeSecrets`) and
    /// certificates (`removeCertificates`) removed. Killed anywhere, `resume` finishes or rolls it back; the app always
    /// holds a working credential. Entra's rules for a FIC are checked before Graph is called; issuer, subject and
    /// audience default to the external token's own claims, and must match them when given.
    public func federate(app: String, _ request: FederationRequest) throws -> RotationReport {
        let held = try lock(app)
        defer { held.release() }
        let session = try tokens.session(app: app)
        if let backend = session.metadata.backend {
            throw VaultError("rotation.fleet", "app '\(app)' keeps its secret in backend '\(backend)', shared by a fleet; a fleet moves to a federated credential host by host, not through one host's vault", context: ["case": "federated", "app": app])
        }
        let home = localHome(app)
        if let (j, _) = try home.pending() {
            throw VaultError("rotation.pending", "a rotation of '\(app)' is pending", context: ["app": app, "command": j.kind.command])
        }
        let source = try FederatedSource.parse(request.source)
        // The token as Entra will see it: its claims fill in what was not given, and must agree with what was.
        let claims = try ExternalTokenSources.stored(source, backends: BackendService(vault: vault, unlock: unlock)).read(now: Date())
        let cloud = session.metadata.cloud
        let issuer = request.issuer ?? claims.issuer
        let subject = request.subject ?? claims.subject
        let audience = request.audience ?? FederatedCredentialRules.audience(cloud: cloud)
        if issuer != claims.issuer || subject != claims.subject || !claims.audience.contains(audience) {
            let (what, given, entra): (String, String, String) = issuer != claims.issuer
                ? ("issuer '\(claims.issuer.prefix(200))'", "issuer", "AADSTS700211")
                : subject != claims.subject ? ("subject '\(claims.subject.prefix(200))'", "subject", "AADSTS70021")
                : ("audience \(claims.audience.map { "'\($0.prefix(200))'" }.joined(separator: ", "))", "audience", "AADSTS70021")
            let asked = given == "issuer" ? issuer : given == "subject" ? subject : audience
            throw VaultError("federated.claims", "the token from \(source) has \(what), not '\(asked.prefix(200))' as the credential would say; Entra ID would refuse it (\(entra))",
                             context: ["app": app, "source": source.description, "claim": given])
        }
        try refuseSiblings(app: app, session: session, removeSecrets: request.removeSecrets, removeCertificates: request.removeCertificates)
        let graph = try self.graph(session)
        try requireWriteRole(graph, app: app, doing: "add a federated credential to itself")
        let apps = Applications(client: graph.client)
        let clientID = session.metadata.clientID
        let existing = try apps.federatedCredentials(appID: clientID)
        let id = UUID().uuidString.lowercased()
        let now = Date()
        let day = now.formatted(Date.ISO8601FormatStyle().year().month().day()).filter { $0 != "-" }
        let name = request.name ?? "vault-\(day)-\(id.prefix(8))"
        let fic = FederatedIdentityCredential(name: name, issuer: issuer, subject: subject, audiences: [audience])
        if var problem = FederatedCredentialRules.problem(fic, cloud: cloud, existing: existing) {
            problem.context["app"] = app
            throw problem
        }
        let passwords = request.removeSecrets ? try apps.passwords(appID: clientID).map(\.keyID) : []
        // Only the certificates the app could sign in with ("Verify"); a token-encryption certificate ("Encrypt") is
        // not a credential and stays.
        let keys = request.removeCertificates ? try apps.keys(appID: clientID).filter(\.signsIn).map(\.keyID) : []
        checkpoint("after-read")

        var j = RotationJournal(kind: .federated, id: id, app: app, step: .adding, started: now, displayName: name)
        j.clientID = clientID
        j.tenant = session.metadata.tenant
        j.keyIDsBefore = existing.map(\.id)
        j.lagWindow = lagWindow
        j.federatedSource = source.description
        j.issuer = issuer
        j.subject = subject
        j.audience = audience
        j.removePasswords = passwords
        j.removeKeys = keys
        var bytes = Array(source.description.utf8)
        return try machine(app: app, kind: .federated, home: home, session: session).run(j, prepared: SecretBytes(consuming: &bytes))
    }

    /// Another entry of this vault for the same registration (another name, or a fleet's backend app) would be left
    /// holding a removed credential: refused before anything is done.
    func refuseSiblings(app: String, session: AppSession, removeSecrets: Bool, removeCertificates: Bool) throws {
        guard removeSecrets || removeCertificates else { return }
        let client = session.metadata.clientID.lowercased()
        let siblings: [(name: String, holds: String)] = try vault.open(unlock).contents.apps.compactMap { other in
            let m = other.metadata
            guard m.name != app, m.clientID.lowercased() == client, m.federated == nil else { return nil }
            if removeSecrets && (other.secret != nil || m.backend != nil) { return (m.name, "a secret") }
            if removeCertificates && other.certificateKey != nil { return (m.name, "a certificate") }
            return nil
        }.sorted { $0.name < $1.name }
        if let first = siblings.first {
            let others = siblings.count > 1 ? " (and \(siblings.dropFirst().map { "'\($0.name)'" }.joined(separator: ", ")))" : ""
            throw VaultError("federated.siblings", "app '\(first.name)'\(others) uses the same registration (client id \(client)) with \(first.holds) the move is to remove from the app; it would stop working",
                             context: ["app": app, "sibling": first.name])
        }
    }

    /// An app already federated drops the credentials it kept (moved without `removeSecrets`, or stored with
    /// `add-app --federated` over a registration that still has a password): the federated credential is proven first
    /// (a token straight from Entra ID through it, and a Graph call), then the passwords and signing certificates
    /// the app holds now are removed through Graph and the vault's copies dropped. Journaled (a `federation` journal at
    /// step `committed`), so that killed halfway, `--resume` finishes the removal.
    public func removeLeftovers(app: String, removeSecrets: Bool, removeCertificates: Bool) throws -> RotationReport {
        let held = try lock(app)
        defer { held.release() }
        let session = try tokens.session(app: app)
        guard let stored = session.metadata.federated else {
            throw VaultError("federated.not_yet", "app '\(app)' is not federated: without a federated credential, removing its secrets or certificates would leave it none", context: ["app": app])
        }
        let home = localHome(app)
        if let (j, _) = try home.pending() {
            throw VaultError("rotation.pending", "a rotation of '\(app)' is pending", context: ["app": app, "command": j.kind.command])
        }
        let source = try FederatedSource.parse(stored)
        try refuseSiblings(app: app, session: session, removeSecrets: removeSecrets, removeCertificates: removeCertificates)
        let claims = try ExternalTokenSources.stored(source, backends: BackendService(vault: vault, unlock: unlock)).read(now: Date())
        let prover = EntraCredentialProver(tokens: tokens, session: session)
        do {
            try prover.graphCall(with: try prover.token(with: .federated(source)))
        } catch let e as VaultError {
            throw VaultError("federated.unproven", "the federated credential of '\(app)' did not work (\(e.reason)); nothing was removed",
                             context: e.context.wrapped(in: ["app": app, "cause": e.code.rawValue]))
        }
        let graph = try self.graph(session)
        try requireWriteRole(graph, app: app, doing: "remove its own credentials")
        let apps = Applications(client: graph.client)
        let clientID = session.metadata.clientID
        let passwords = removeSecrets ? try apps.passwords(appID: clientID).map(\.keyID) : []
        let keys = removeCertificates ? try apps.keys(appID: clientID).filter(\.signsIn).map(\.keyID) : []
        var report = RotationReport(app: app, kind: .federated)
        guard !passwords.isEmpty || !keys.isEmpty else {
            report.notes.append("the app registration holds no \(removeSecrets && removeCertificates ? "password or signing certificate" : removeSecrets ? "password" : "signing certificate"); nothing was removed")
            return report
        }
        var j = RotationJournal(kind: .federated, id: UUID().uuidString.lowercased(), app: app, step: .committed, started: Date(),
                                displayName: session.metadata.federatedCredential ?? "federated credential")
        j.clientID = clientID
        j.tenant = session.metadata.tenant
        j.lagWindow = lagWindow
        j.federatedSource = source.description
        j.issuer = session.metadata.federatedIssuer ?? claims.issuer
        j.subject = session.metadata.federatedSubject ?? claims.subject
        j.audience = claims.audience.first
        j.removePasswords = passwords
        j.removeKeys = keys
        var bytes = Array(source.description.utf8)
        let sourceBytes = SecretBytes(consuming: &bytes)
        try home.begin(j, newSecret: sourceBytes)
        checkpoint("after-journal")
        return try machine(app: app, kind: .federated, home: home, session: session).advance(j, newSecret: sourceBytes, patience: .waitForLag)
    }
}
