import ArgumentParser
import EntraAuth
import FoundationEssentials
import VaultCrypto
import VaultStore
import VaultFormat
import VaultRecords

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the stored apps (never their secrets).")

    @OptionGroup var options: VaultOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
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
struct AppView: Encodable {
    var name: String
    var tenant: String
    var client_id: String
    var cloud: String
    var authority: String?
    var graph: String?
    var scope: String?
    /// The authority or Graph host is outside the known clouds (or cannot be used at all).
    var custom_endpoint: Bool
    var secret_hint: String
    var secret_key_id: String?
    var secret_expires: String?
    var added: String
    var rotated: String?
    /// "secret", "certificate", or "certificate+secret"; `uses` names the one tokens are fetched with.
    var credential: String
    var uses: String
    var certificate_sha1: String?
    var certificate_sha256: String?
    var certificate_subject: String?
    var certificate_expires: String?
    var certificate_key_id: String?
    var assertion_algorithm: String?

    init(_ a: AppMetadata, endpoints: EndpointClassifier = EndpointClassifier()) {
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
        credential = a.certificate == nil ? "secret" : hasSecret ? "certificate+secret" : "certificate"
        uses = a.usesCertificate ? "certificate" : "secret"
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
    static func credentialLabel(_ a: AppMetadata) -> String {
        let cert = a.certificateSHA1.map { "cert " + String($0.prefix(8)) }
        let secret = a.secretHint.isEmpty ? nil : "secret " + a.secretHint + "…"
        return (a.usesCertificate ? [cert, secret] : [secret, cert]).compactMap { $0 }.joined(separator: " + ")
    }

    /// The cloud, or "custom" (with the cloud's name) when a host outside the known clouds receives the app's secret or tokens.
    static func cloudLabel(_ a: AppMetadata, endpoints: EndpointClassifier = EndpointClassifier()) -> String {
        guard let custom = endpoints.isCustom(a) else { return "invalid" }
        return custom ? "custom (\(a.cloud))" : a.cloud
    }
}

/// Whether an app's stored endpoints are outside its cloud (nil: they cannot be used), parsed once per distinct
/// (cloud, authority, Graph) triple: a vault of thousands of apps usually holds a handful.
final class EndpointClassifier {
    private var known: [String: Bool?] = [:]

    func isCustom(_ a: AppMetadata) -> Bool? {
        let key = a.cloud + "\u{0}" + (a.authority ?? "") + "\u{0}" + (a.graphRoot ?? "")
        if let cached = known[key] { return cached }
        let custom = (try? AppEndpoints.stored(cloud: a.cloud, authority: a.authority, graph: a.graphRoot))?.isCustom
        known[key] = custom
        return custom
    }
}

enum Format {
    static func date(_ d: Date) -> String { d.formatted(.iso8601) }

    static func json<T: Encodable>(_ value: T) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try e.encode(value), as: UTF8.self)
    }

    static func table(header: [String], rows: [[String]]) -> String {
        // Widths in characters; ASCII cells (nearly all) are measured by their bytes, without grapheme breaking.
        func width(_ s: String) -> Int { s.utf8.allSatisfy { $0 < 0x80 } ? s.utf8.count : s.count }
        let all = [header] + rows
        let measured = all.map { $0.map(width) }
        var widths = [Int](repeating: 0, count: header.count)
        for row in measured { for (i, w) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], w) } }
        var out = ""
        out.reserveCapacity(all.count * (widths.reduce(0, +) + 2 * widths.count + 1))
        for (r, cells) in all.enumerated() {
            if r > 0 { out += "\n" }
            for (i, c) in cells.enumerated() {
                if i > 0 { out += "  " }
                out += c
                if i < cells.count - 1 { out += String(repeating: " ", count: max(0, widths[i] - measured[r][i])) }
            }
        }
        return out
    }
}
