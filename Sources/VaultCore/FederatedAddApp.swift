import EntraAuth
import FoundationEssentials
import VaultCrypto
import VaultErrors
import VaultRotation
import VaultStore
import VaultFormat
import VaultRecords
import VaultTokens

/// Use case: an app whose credential is federated (`add-app --federated SOURCE`): it proves itself with an external
/// issuer's token, read from SOURCE at each token fetch. The record keeps where the token comes from and no secret.
public struct FederatedAddApp: Sendable {
    public let vault: Vault
    public let unlock: Credential

    public init(vault: Vault, unlock: Credential) {
        self.vault = vault
        self.unlock = unlock
    }

    /// What was stored, and what the caller should tell the user (a token file not there yet, a token that will not
    /// match a federated credential's audience).
    public struct Outcome: Sendable {
        public var metadata: AppMetadata
        public var notes: [String]
    }

    /// The accepted source text, checked (and the backend it names looked up) before the vault is touched.
    public static func source(_ text: String) throws -> FederatedSource { try FederatedSource.parse(text) }

    /// Validates everything first: the app's names and endpoints, the source, the backend it names; a token file that
    /// is there must hold a JWT. Nothing is written when any check fails.
    public func run(_ app: AppRegistration, source text: String, replace: Bool, now: Date = Date()) throws -> Outcome {
        let (endpoints, tenant) = try app.validate()
        let source = try FederatedSource.parse(text)
        var notes: [String] = []
        switch source {
        case .backend(let name, _):
            _ = try BackendService(vault: vault, unlock: unlock).get(name)
        case .file(let path):
            do {
                let token = try TokenFileSource(path: path).read(now: now)
                if !token.audience.contains(where: { $0.hasPrefix("api://AzureADTokenExchange") }) {
                    notes.append("the token in \(path) is for audience \(token.audience.joined(separator: ", ")); Entra ID's federated credentials take api://AzureADTokenExchange")
                }
            } catch let e as VaultError where e.code == "federated.file" && e.context["case"] == "missing" {
                notes.append("\(path) does not exist yet; vault reads it at each token fetch")
            } catch let e as VaultError where e.code == "federated.token" && e.context["case"] == "expired" {
                notes.append(e.reason + "; vault reads the file again at each token fetch, so whatever refreshes it must be running")
            } catch let e as VaultError where e.code == "federated.file" && e.context["case"] == "unreadable" {
                notes.append(e.reason + "; vault reads it at each token fetch, as the user that runs vault")
            }
        }
        var meta = AppMetadata(name: app.name, tenant: tenant, clientID: app.clientID.lowercased(), cloud: endpoints.cloud.rawValue,
                               authority: endpoints.storedAuthority, secretHint: "", added: now)
        meta.graphRoot = endpoints.storedGraph
        meta.scope = app.scope
        meta.federated = source.description
        try vault.update(unlock) { v in
            if !replace, try v.contents.app(named: meta.name) != nil {
                throw VaultError("app.exists", "an app named '\(meta.name)' is already stored")
            }
            if try RotationJournal.load(v.contents, app: meta.name) != nil {
                throw VaultError("rotation.pending", "a rotation of '\(meta.name)' is pending, so the app was not replaced", context: ["app": meta.name])
            }
            try v.contents.putApp(StoredApp(metadata: meta, secret: nil))
        }
        return Outcome(metadata: meta, notes: notes)
    }
}
