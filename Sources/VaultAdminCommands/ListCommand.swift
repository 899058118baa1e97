import ArgumentParser
import EntraAuth
import FoundationEssentials
import VaultCLI
import VaultCrypto
import VaultStore
import VaultFormat
import VaultRecords

package struct ListCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(commandName: "list", abstract: "List the stored apps (never their secrets).")

    @OptionGroup package var options: VaultOptions
    @Flag(help: "Print JSON.") package var json = false

    package func run() throws {
        let vault = try options.vault().open(try options.credential())
        let apps = try vault.contents.apps.map(\.metadata).sorted { $0.name < $1.name }
        let endpoints = EndpointClassifier()
        if json {
            Console.out(try Format.json(apps.map { AppView($0, endpoints: endpoints) }))
            return
        }
        if apps.isEmpty {
            Console.out("No apps stored. Add one with `vault add-app`.")
            return
        }
        let rows = apps.map { a in
            [a.name, a.tenant, a.clientID, AppView.cloudLabel(a, endpoints: endpoints), AppView.credentialLabel(a), Format.date(a.added), a.rotated.map(Format.date) ?? "-"]
        }
        Console.out(Format.table(header: ["NAME", "TENANT", "CLIENT ID", "CLOUD", "CREDENTIAL", "ADDED", "ROTATED"], rows: rows))
    }
}

/// The public view of an app for JSON output.
package struct AppView: Encodable {
    package var name: String
    package var tenant: String
    package var client_id: String
    package var cloud: String
    package var authority: String?
    package var graph: String?
    package var scope: String?
    /// The authority or Graph host is outside the known clouds (or cannot be used at all).
    package var custom_endpoint: Bool
    package var secret_hint: String
    package var secret_key_id: String?
    package var secret_expires: String?
    package var added: String
    package var rotated: String?
    /// "secret", "certificate", "certificate+secret" or "federated"; `uses` names the one tokens are fetched with.
    package var credential: String
    package var uses: String
    /// A federated app's token source (`file:PATH` or `backend:NAME/ROLE`).
    package var federated: String?
    /// The federated identity credential `vault federate` made (its name on the app registration), with its issuer and subject.
    package var federated_credential: String?
    package var federated_issuer: String?
    package var federated_subject: String?
    package var certificate_sha1: String?
    package var certificate_sha256: String?
    package var certificate_subject: String?
    package var certificate_expires: String?
    package var certificate_key_id: String?
    package var assertion_algorithm: String?

    package init(_ a: AppMetadata, endpoints: EndpointClassifier = EndpointClassifier()) {
        name = a.name
        tenant = a.tenant
        client_id = a.clientID
        cloud = a.cloud
        authority = a.authority
        graph = a.graphRoot
        scope = a.scope
        custom_endpoint = endpoints.isCustom(a) ?? true
        secret_hint = a.secretHint
        secret_key_id = a.secretKeyID
        secret_expires = a.secretExpires.map(Format.date)
        added = Format.date(a.added)
        rotated = a.rotated.map(Format.date)
        let hasSecret = !a.secretHint.isEmpty
        credential = a.federated != nil ? "federated" : a.certificate == nil ? "secret" : hasSecret ? "certificate+secret" : "certificate"
        uses = a.federated != nil ? "federated" : a.usesCertificate ? "certificate" : "secret"
        federated = a.federated
        federated_credential = a.federatedCredential
        federated_issuer = a.federatedIssuer
        federated_subject = a.federatedSubject
        certificate_sha1 = a.certificateSHA1
        certificate_sha256 = a.certificateSHA256
        certificate_subject = a.certificateSubject
        certificate_expires = a.certificateExpires.map(Format.date)
        certificate_key_id = a.certificateKeyID
        assertion_algorithm = a.certificate == nil ? nil : (a.assertionAlgorithm ?? "PS256")
    }
}

extension AppView {
    /// "secret Ako…", "cert 31656DCC", or both, the one in use first.
    package static func credentialLabel(_ a: AppMetadata) -> String {
        if let source = a.federated { return "federated " + source }
        let cert = a.certificateSHA1.map { "cert " + String($0.prefix(8)) }
        let secret = a.secretHint.isEmpty ? nil : "secret " + a.secretHint + "…"
        return (a.usesCertificate ? [cert, secret] : [secret, cert]).compactMap { $0 }.joined(separator: " + ")
    }

    /// The cloud, or "custom" (with the cloud's name) when a host outside the known clouds receives the app's secret or tokens.
    package static func cloudLabel(_ a: AppMetadata, endpoints: EndpointClassifier = EndpointClassifier()) -> String {
        guard let custom = endpoints.isCustom(a) else { return "invalid" }
        return custom ? "custom (\(a.cloud))" : a.cloud
    }
}

/// Whether an app's stored endpoints are outside its cloud (nil: they cannot be used), parsed once per distinct
/// (cloud, authority, Graph) triple: a vault of thousands of apps usually holds a handful.
package final class EndpointClassifier {
    private var known: [String: Bool?] = [:]

    package func isCustom(_ a: AppMetadata) -> Bool? {
        let key = a.cloud + "\u{0}" + (a.authority ?? "") + "\u{0}" + (a.graphRoot ?? "")
        if let cached = known[key] { return cached }
        let custom = (try? AppEndpoints.stored(cloud: a.cloud, authority: a.authority, graph: a.graphRoot))?.isCustom
        known[key] = custom
        return custom
    }
}

