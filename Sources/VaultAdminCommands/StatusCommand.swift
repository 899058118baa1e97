import ArgumentParser
import FoundationEssentials
import VaultCLI
import VaultCore
import VaultErrors
import VaultTokens
import VaultRotation
import VaultCrypto
#if canImport(Glibc)
import Glibc
#endif

package struct StatusCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Credential health per app (secrets, certificates, federated credentials): hint or thumbprint, key id, expiry, last rotation, pending rotation.",
        discussion: """
        Exit status, for cron and monitors (the worst app wins): 0 healthy, 1 a secret or certificate expires within \
        --warn-days, 2 one has expired, 3 a rotation is pending. A certificate's expiry is the certificate's own. Expiry comes from Graph when the app can read its own \
        registration, else (and always with --offline) from what vault stored at the last rotation.
        """
    )

    @OptionGroup package var graph: GraphOptions
    @Argument(help: "One app (default: all).") var app: String?
    @Flag(help: "Print JSON.") package var json = false
    @Option(name: .customLong("warn-days"), help: ArgumentHelp("Warn when a secret expires within this many days (default 30).", valueName: "n"))
    package var warnDays: Int = 30
    @Flag(help: "Ask Graph nothing: report what the vault stored (no token is fetched, no network is used).") var offline = false

    package func run() throws {
        guard warnDays >= 0 else { throw VaultError("usage", "--warn-days must be 0 or more") }
        let tokens = try graph.network.tokenService(graph.vault)
        // The service states facts; what to run about them is said here.
        let statuses = try StatusService(tokens: tokens).status(apps: app.map { [$0] }, warnDays: warnDays, offline: offline).map { s in
            var s = s
            if s.stalledFleetRotation, let pending = s.pending { s.pending = pending + "; run `vault rotate-secret \(s.app) --resume`" }
            if s.certificateNotUploaded, let i = s.notes.firstIndex(where: { $0.hasPrefix("the app registration holds no certificate") }) {
                s.notes[i] += ": upload it (`vault show \(s.app) --certificate-pem`)"
            }
            return s
        }
        if json {
            struct Row: Encodable {
                var app: String; var credential: String; var in_use: Bool; var status: String; var secret_hint: String; var key_id: String?; var expires: String?
                var days_left: Int?; var expiry_source: String; var rotated: String?; var pending_rotation: String?; var notes: [String]
            }
            Console.out(try Format.json(statuses.map {
                Row(app: $0.app, credential: $0.credential, in_use: $0.inUse, status: $0.level.label, secret_hint: $0.hint, key_id: $0.keyID, expires: $0.expires.map(Format.date),
                    days_left: $0.daysLeft, expiry_source: $0.expirySource, rotated: $0.rotated.map(Format.date), pending_rotation: $0.pending,
                    notes: $0.notes)
            }))
        } else if statuses.isEmpty {
            Console.out("No apps stored.")
        } else {
            Console.out(Format.table(header: ["APP", "CREDENTIAL", "STATUS", "HINT", "KEY ID", "EXPIRES", "DAYS", "ROTATED", "PENDING"], rows: statuses.map { s in
                [s.app, s.credential + (s.inUse ? "" : " (unused)"), s.level.label, s.hint.isEmpty ? "-" : s.hint + "…", s.keyID ?? "-",
                 s.expires.map(Format.date).map { "\($0) (\(s.expirySource))" } ?? (s.credential.hasPrefix("federated") ? "-" : "unknown"),
                 s.daysLeft.map(String.init) ?? "-", s.rotated.map(Format.date) ?? "never", s.pending ?? "-"]
            }))
            for s in statuses { for n in s.notes { Console.warn("\(s.app): \(n)") } }
        }
        let worst = statuses.map(\.level).max() ?? .healthy
        if worst != .healthy { throw ExitCode(Int32(worst.rawValue)) }
    }
}
