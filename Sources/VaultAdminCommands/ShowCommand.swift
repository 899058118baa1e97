import ArgumentParser
import EntraAuth
import VaultCLI
import VaultCore
import VaultErrors
import VaultTokens
import VaultRotation
import VaultCrypto
import VaultPKI
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import VaultStore
import VaultFormat
import VaultRecords

package struct ShowCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one stored app (never its secret).")

    @OptionGroup package var options: VaultOptions
    @Argument(help: "The app's name.") package var name: String
    @Flag(help: "Print JSON.") package var json = false
    @Flag(name: .customLong("certificate-pem"), help: "Print only the app's public certificate (PEM), e.g. to upload it again.") var certificatePEM = false

    package func run() throws {
        let vault = try options.vault().open(try options.credential())
        guard let app = try vault.contents.app(named: name) else { throw AppLookup.missing(name) }
        let view = AppView(app.metadata)
        if certificatePEM {
            guard let b64 = app.metadata.certificate, let der = Data(base64Encoded: b64), let info = try? CertificateInfo(der: Array(der)) else {
                throw VaultError("cert.none", "app '\(name)' holds no certificate", context: ["app": name])
            }
            Console.write(1, info.pem)
            return
        }
        if json { Console.out(try Format.json(view)); return }
        var lines: [(String, String)] = [
            ("name", view.name), ("tenant", view.tenant), ("client id", view.client_id), ("cloud", AppView.cloudLabel(app.metadata)),
        ]
        if let e = try? AppEndpoints.stored(cloud: app.metadata.cloud, authority: app.metadata.authority, graph: app.metadata.graphRoot) {
            lines.append(("authority", e.authority.origin + "/" + view.tenant + (e.authorityIsKnown ? "" : "  (custom endpoint)")))
            lines.append(("graph", e.graph.description + (e.graphIsKnown ? "" : "  (custom endpoint)")))
            lines.append(("scope", view.scope ?? e.defaultScope ?? "none stored (pass --scope)"))
        } else {
            lines.append(("authority", (view.authority ?? "-") + "  (invalid: re-add the app)"))
        }
        lines.append(("credential", view.credential + (view.credential.contains("+") ? " (tokens use the \(view.uses))" : "")))
        if let source = view.federated {
            lines.append(("token source", source + " (an external token, read at each token fetch)"))
            if let fic = app.metadata.federatedCredential {
                lines.append(("federated credential", fic + " (issuer \(app.metadata.federatedIssuer ?? "?"), subject \(app.metadata.federatedSubject ?? "?"); `vault status \(name)` lists them all from Graph)"))
            }
        }
        lines += CertificateInput.describe(app.metadata)
        if app.metadata.certificate != nil {
            lines.append(("assertion", (view.assertion_algorithm ?? "PS256") + (app.metadata.sendX5C == true ? ", with x5c" : "")))
        }
        if app.secret != nil {
            lines.append(("secret hint", view.secret_hint + "…"))
            if let k = view.secret_key_id { lines.append(("secret key id", k)) }
            if let e = view.secret_expires { lines.append(("secret expires", e)) }
        }
        lines.append(("added", view.added))
        lines.append(("rotated", view.rotated ?? "never"))
        let width = lines.map(\.0.count).max() ?? 0
        for (k, v) in lines { Console.out(k + ":" + String(repeating: " ", count: width - k.count + 1) + v) }
    }
}

package enum AppLookup {
    package static func missing(_ name: String) -> VaultError {
        VaultError.unknownApp(name)
    }
}
