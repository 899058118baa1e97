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

package struct RotateCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "rotate-secret",
        abstract: "Rotate an app's client secret through Graph, never losing a working credential.",
        discussion: """
        Adds a new password with the app's own identity, journals it in the vault, proves it (a token and a Graph \
        call, waiting out Entra's propagation delay), makes it the stored secret, then removes only the old password. \
        An interrupted rotation is finished or rolled back by the next command that uses the app, or by --resume. \
        One rotation runs at a time per app: a second one is refused while the first holds the app. \
        An app kept in a fleet backend is rotated for the whole fleet: one host takes the backend's rotation lock, \
        the journal is kept in the backend, and the new secret is committed there; any host can --resume a rotation \
        whose host stopped, once its lock expired. \
        Needs Application.ReadWrite.OwnedBy (the app owning itself) or Application.ReadWrite.All; without them use \
        --manual.
        """
    )

    @OptionGroup package var graph: GraphOptions
    @Argument(help: "The app's name.") package var app: String
    @Option(name: .customLong("expires-in"), help: ArgumentHelp("Lifetime of the new secret: N followed by h, d, w or y (default 180d).", valueName: "duration"))
    package var expiresIn: String = "180d"
    @Option(name: .customLong("display-name"), help: ArgumentHelp("Display name of the new password (default 'vault YYYY-MM-DD').", valueName: "text"))
    package var displayName: String?
    @Flag(name: .customLong("keep-old"), help: "Do not remove the old password.") var keepOld = false
    @Flag(help: "Finish or roll back an interrupted rotation, and do nothing else.") package var resume = false
    @Flag(help: "Store a secret made by hand (hidden prompt or stdin) after proving it works.") var manual = false
    @Flag(help: "Drop a pending rotation's journal without finishing it (names any password it may have left on the app).") var abandon = false
    @Option(name: .customLong("lag-window"), help: ArgumentHelp("Seconds Graph's reads may lag its writes: a just-created password counts as removed only after this (default 180).", valueName: "s"))
    package var lagWindow: Double?
    @Option(name: .customLong("propagation-timeout"), help: ArgumentHelp("Seconds to wait for a new secret to start working (default 120).", valueName: "s"))
    package var propagationTimeout: Double = 120
    @Option(name: .customLong("lock-ttl"), help: ArgumentHelp("A fleet app: seconds the fleet rotation lock holds unless renewed; the rotating host renews it at every step and during waits, and another host may take over a rotation only once it expired (default 300).", valueName: "s"))
    package var lockTTL: Double?
    @Flag(name: .customLong("to-certificate"), help: "Move the app from its secret to a certificate made in the vault (PATCH keyCredentials, proven, then the password removed).")
    package var toCertificate = false
    @Option(help: ArgumentHelp("With --to-certificate: validity, N followed by d, w or y (default 1y).", valueName: "duration"))
    var valid: String?
    @Option(name: .customLong("key-size"), help: ArgumentHelp("With --to-certificate: RSA key size, 2048, 3072 or 4096 (default 3072).", valueName: "bits"))
    var keySize: Int?
    @Option(help: ArgumentHelp("With --to-certificate: the certificate's subject (default CN=APP).", valueName: "dn"))
    var subject: String?

    package func validate() throws {
        if manual && (resume || keepOld || displayName != nil) {
            throw ValidationError("--manual cannot be combined with --resume, --keep-old or --display-name")
        }
        if abandon && (manual || resume || keepOld || displayName != nil) {
            throw ValidationError("--abandon cannot be combined with other rotation options")
        }
        if toCertificate && (manual || resume || abandon || keepOld || displayName != nil) {
            throw ValidationError("--to-certificate cannot be combined with --manual, --resume, --abandon, --keep-old or --display-name")
        }
        if !toCertificate && (valid != nil || keySize != nil || subject != nil) {
            throw ValidationError("--valid, --key-size and --subject work only with --to-certificate")
        }
        guard propagationTimeout >= 0, propagationTimeout <= 3600 else { throw ValidationError("--propagation-timeout must be 0…3600") }
        guard (lagWindow ?? 0) >= 0, (lagWindow ?? 0) <= 3600 else { throw ValidationError("--lag-window must be 0…3600") }
        if let lockTTL, !(lockTTL >= 1 && lockTTL <= 86400) { throw ValidationError("--lock-ttl must be 1…86400 seconds") }
        _ = try Duration.seconds(expiresIn)
    }

    package func run() throws {
        var service = try RotationService.forCommand(graph, propagationTimeout: propagationTimeout, lagWindow: lagWindow)
        let tokens = service.tokens
        service.fleetLockTTL = lockTTL
        if abandon {
            guard let j = try service.abandon(app: app) else {
                Console.out("No rotation of '\(app)' is pending.")
                return
            }
            if j.kind == .certificate {
                RotateCertCommand.printAbandoned(j, app: app)
                return
            }
            if j.kind == .federated {
                FederateCommand.printAbandoned(j, app: app)
                return
            }
            Console.out("Dropped the pending rotation of '\(app)' (journal \(j.shortID), step \(j.step.rawValue)); the stored secret is unchanged.")
            if j.step != .committed {
                let where_ = j.newKeyID.map { "password \($0)" } ?? "a password named '\(j.displayName)'"
                Console.warn("the app registration may still hold \(where_) that this rotation added: remove it in the portal or with Graph")
            }
            return
        }
        if toCertificate {
            var o = CertificateOptions()
            o.valid = valid
            let report = try service.moveToCertificate(app: app, validDays: valid == nil ? nil : try o.validDays(), keyBits: keySize, subject: subject)
            Console.out("Moved '\(app)' to a certificate made in the vault:")
            Console.out("  thumbprint:      \(report.newThumbprint ?? "?")")
            Console.out("  key id:          \(report.newKeyID ?? "?")")
            if let e = report.newEnd { Console.out("  expires:         \(Format.date(e))") }
            if let removed = report.removedKeyID { Console.out("  removed password: \(removed)") }
            for n in report.notes { Console.warn(n) }
            return
        }
        if manual {
            _ = try tokens.session(app: app) // the app must exist before a secret is asked for
            let secret = try Prompts.clientSecret(for: app)
            let report = try service.manual(app: app, secret: secret)
            Console.out("Stored the new secret of '\(app)' (hint \(report.newHint ?? "?")…) after a successful token request.")
            return
        }
        // A rollback's wait over Graph's lag window is announced by the service (its `waiting`).
        if let report = try service.resume(app: app) {
            if report.kind != .password {
                FederateCommand.print(report, resumed: true)
                return
            }
            if report.unfinished {
                Self.print(report, resumed: true)
                throw VaultError("rotation.unfinished", "the rotation of '\(app)' is not finished: Graph does not yet confirm a removal", context: ["app": app])
            }
            Self.print(report, resumed: true)
            return
        }
        if resume {
            Console.out("No rotation of '\(app)' is pending.")
            return
        }
        let report = try service.rotate(app: app, lifetime: try Duration.seconds(expiresIn), displayName: displayName, keepOld: keepOld)
        Self.print(report, resumed: false)
    }

    static func print(_ r: RotationReport, resumed: Bool) {
        if r.rolledBack && r.unfinished {
            Console.out("Rolling back the interrupted rotation of '\(r.app)': the stored secret is unchanged; the new password is not confirmed removed yet.")
        } else if r.rolledBack {
            Console.out("Rolled back the interrupted rotation of '\(r.app)': the stored secret is unchanged.")
        } else {
            Console.out("\(resumed ? "Finished the interrupted rotation" : "Rotated the secret") of '\(r.app)':")
            Console.out("  new key id:  \(r.newKeyID ?? "?")")
            Console.out("  hint:        \(r.newHint ?? "?")…")
            if let end = r.newEnd { Console.out("  expires:     \(Format.date(end))") }
            if let removed = r.removedKeyID { Console.out("  removed old: \(removed)") } else if r.keptOld { Console.out("  old password kept (--keep-old)") }
        }
        for n in r.notes { Console.warn(n) }
    }
}

extension RotationService {
    /// The service a rotating command (rotate-secret, rotate-cert, federate) runs: its vault and network options,
    /// the waits it was given, and the test hooks' kill points.
    static func forCommand(_ graph: GraphOptions, propagationTimeout: Double, lagWindow: Double?) throws -> RotationService {
        var service = RotationService(tokens: try graph.network.tokenService(graph.vault), checkpoint: TestHooks.checkpoint)
        service.propagationTimeout = propagationTimeout
        service.lagWindow = lagWindow ?? RotationService.defaultLagWindow
        service.lagWindowIsExplicit = lagWindow != nil
        service.waiting = { Console.warn($0) }
        return service
    }
}
