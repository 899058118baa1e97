import ArgumentParser
import FoundationEssentials
import VaultCLI
import VaultCore
import VaultTokens
import VaultRotation
import VaultCrypto

package struct RotateCertCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "rotate-cert",
        abstract: "Rotate an app's certificate through Graph (addKey/removeKey), the new key made inside the vault.",
        discussion: """
        Makes the next key pair in the vault and journals it, adds its certificate to the app registration with \
        addKey (a proof signed by the current certificate), proves it (a token through Entra's propagation delay, then \
        a Graph call), makes it the stored certificate, then removes the old key with a proof signed by the new one. \
        Crash-safe at every step: an interrupted rotation is finished or rolled back by --resume, and the stored \
        certificate always works. One rotation (of a secret or a certificate) runs at a time per app. Rolling an \
        app's own keys needs no Graph permission, only a current certificate.
        """
    )

    @OptionGroup package var graph: GraphOptions
    @Argument(help: "The app's name.") package var app: String
    @Option(help: ArgumentHelp("Validity of the new certificate, N followed by d, w or y (default: as long as the current one).", valueName: "duration"))
    package var valid: String?
    @Option(name: .customLong("key-size"), help: ArgumentHelp("RSA key size of the new key, 2048, 3072 or 4096 (default: the current one's).", valueName: "bits"))
    package var keySize: Int?
    @Flag(help: "Finish or roll back an interrupted certificate rotation, and do nothing else.") package var resume = false
    @Flag(help: "Drop a pending certificate rotation's journal without finishing it.") package var abandon = false
    @Option(name: .customLong("lag-window"), help: ArgumentHelp("Seconds Graph's reads may lag its writes: an interrupted addKey counts as not done only after this (default 180).", valueName: "s"))
    var lagWindow: Double?
    @Option(name: .customLong("propagation-timeout"), help: ArgumentHelp("Seconds to wait for the new certificate to start working (default 120).", valueName: "s"))
    var propagationTimeout: Double = 120

    package func validate() throws {
        if abandon && (resume || valid != nil || keySize != nil) { throw ValidationError("--abandon cannot be combined with other options") }
        guard propagationTimeout >= 0, propagationTimeout <= 3600 else { throw ValidationError("--propagation-timeout must be 0…3600") }
        guard (lagWindow ?? 0) >= 0, (lagWindow ?? 0) <= 3600 else { throw ValidationError("--lag-window must be 0…3600") }
    }

    package func run() throws {
        var days: Int?
        if let valid {
            var o = CertificateOptions()
            o.valid = valid
            days = try o.validDays()
        }
        let service = try RotationService.forCommand(graph, propagationTimeout: propagationTimeout, lagWindow: lagWindow)
        if abandon {
            guard let j = try service.abandon(app: app) else {
                Console.out("No certificate rotation of '\(app)' is pending.")
                return
            }
            Self.printAbandoned(j, app: app)
            return
        }
        if let report = try service.resume(app: app) {
            FederateCommand.print(report, resumed: true)
            return
        }
        if resume {
            Console.out("No certificate rotation of '\(app)' is pending.")
            return
        }
        Self.print(try service.rotateCertificate(app: app, validDays: days, keyBits: keySize), resumed: false)
    }

    static func printAbandoned(_ j: RotationJournal, app: String) {
        Console.out("Dropped the pending certificate rotation of '\(app)' (step \(j.step.rawValue)); the stored certificate is unchanged\(j.step == .committed ? " (the new one, already committed)" : "").")
        if j.step != .committed, let thumbprint = j.newThumbprint, !thumbprint.isEmpty {
            Console.warn("the app registration may still hold the certificate with thumbprint \(thumbprint) that this rotation added: remove it in the portal")
        }
    }

    static func print(_ r: RotationReport, resumed: Bool) {
        if r.rolledBack {
            Console.out("Rolled back the interrupted certificate rotation of '\(r.app)': the stored certificate is unchanged.")
        } else {
            Console.out("\(resumed ? "Finished the interrupted certificate rotation" : "Rotated the certificate") of '\(r.app)':")
            Console.out("  new thumbprint: \(r.newThumbprint ?? "?")")
            Console.out("  new key id:     \(r.newKeyID ?? "?")")
            if let e = r.newEnd { Console.out("  expires:        \(Format.date(e))") }
            if let removed = r.removedKeyID { Console.out("  removed old:    \(removed)") }
        }
        for n in r.notes { Console.warn(n) }
    }
}
