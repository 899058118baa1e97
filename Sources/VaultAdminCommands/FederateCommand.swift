import ArgumentParser
import FoundationEssentials
import VaultCLI
import VaultCore
import VaultErrors
import VaultRotation
import VaultTokens

package struct FederateCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "federate",
        abstract: "Move an app to a federated credential (no secret, no key), with proof, then remove its other credentials.",
        discussion: """
        Creates a federated identity credential on the app registration through Graph (POST \
        /applications/{id}/federatedIdentityCredentials) trusting the external token SOURCE gives (its issuer, \
        subject and audience, by default read from the token itself), proves it with a token through it (waiting out \
        Entra's propagation, AADSTS70021 meanwhile), makes it the app's stored credential, and then, with \
        --remove-secrets and --remove-certificates, removes the app's passwords and certificates through Graph, each \
        only after that proof. Journaled like a rotation: killed at any step, --resume finishes or rolls it back, and \
        the app always holds a working credential. Entra's rules (20 credentials an app, one audience, issuer and \
        subject unique, 600 characters, no wildcards) are checked before Graph is called. Needs \
        Application.ReadWrite.OwnedBy (the app owning itself) or Application.ReadWrite.All, like rotate-secret.
        """
    )

    @OptionGroup package var graph: GraphOptions
    @Argument(help: "The app's name.") package var app: String
    @Option(help: ArgumentHelp("Where the external token comes from: file:PATH (read at each use) or backend:NAME/ROLE (an OpenBao identity token).", valueName: "source"))
    package var federated: String?
    @Option(help: ArgumentHelp("The issuer the credential trusts (default: the token's iss).", valueName: "url")) package var issuer: String?
    @Option(help: ArgumentHelp("The subject the credential trusts (default: the token's sub).", valueName: "sub")) package var subject: String?
    @Option(help: ArgumentHelp("The audience (default: api://AzureADTokenExchange, or the app's cloud's).", valueName: "aud")) package var audience: String?
    @Option(help: ArgumentHelp("The credential's name on the app (default: vault-DATE-ID).", valueName: "name")) package var name: String?
    @Flag(name: .customLong("remove-secrets"), help: "Once the federated credential is proven, remove the app's passwords (every one it holds now).")
    package var removeSecrets = false
    @Flag(name: .customLong("remove-certificates"), help: "Once the federated credential is proven, remove the app's certificates (every one it holds now).")
    package var removeCertificates = false
    @Flag(help: "Finish or roll back an interrupted move, and do nothing else.") package var resume = false
    @Flag(help: "Drop a pending move's journal without finishing it.") package var abandon = false
    @Option(name: .customLong("lag-window"), help: ArgumentHelp("Seconds Graph's reads may lag its writes (default 180).", valueName: "s"))
    var lagWindow: Double?
    @Option(name: .customLong("propagation-timeout"), help: ArgumentHelp("Seconds to wait for the new credential to start working (default 300).", valueName: "s"))
    var propagationTimeout: Double = 300

    package func validate() throws {
        if abandon && (resume || federated != nil) { throw ValidationError("--abandon cannot be combined with other options") }
        if !resume && !abandon && federated == nil && !removeSecrets && !removeCertificates {
            throw ValidationError("--federated SOURCE is required (file:PATH or backend:NAME/ROLE); on an app already federated, --remove-secrets or --remove-certificates alone removes what it kept")
        }
        if federated == nil && (issuer != nil || subject != nil || audience != nil || name != nil) {
            throw ValidationError("--issuer, --subject, --audience and --name describe a new federated credential: give --federated SOURCE too")
        }
        guard propagationTimeout >= 0, propagationTimeout <= 3600 else { throw ValidationError("--propagation-timeout must be 0…3600") }
        guard (lagWindow ?? 0) >= 0, (lagWindow ?? 0) <= 3600 else { throw ValidationError("--lag-window must be 0…3600") }
    }

    package func run() throws {
        let service = try RotationService.forCommand(graph, propagationTimeout: propagationTimeout, lagWindow: lagWindow)
        if abandon {
            guard let j = try service.abandon(app: app) else {
                Console.out("Nothing is pending for '\(app)'.")
                return
            }
            Self.printAbandoned(j, app: app)
            return
        }
        if let report = try service.resume(app: app) {
            Self.print(report, resumed: true)
            if report.unfinished {
                throw VaultError("rotation.unfinished", "the move of '\(app)' is not finished: Graph does not yet confirm a removal", context: ["app": app, "command": "federate"])
            }
            // An interrupted change was settled first. Rolled back, the app is as before it: the move asked for now
            // goes ahead. Finished, the app already holds what that change made: nothing more is started.
            guard report.rolledBack, federated != nil, !resume else {
                if federated != nil && !resume {
                    Console.warn("the interrupted \(report.kind == .federated ? "move" : "rotation") of '\(app)' was finished instead; the move asked for now was not started: `vault show \(app)`, then run it again if it is still wanted")
                }
                return
            }
        }
        if resume {
            Console.out("Nothing is pending for '\(app)'.")
            return
        }
        guard let federated else {
            // An app already federated: what it kept of its other credentials goes, after its federated one is proven.
            let report = try service.removeLeftovers(app: app, removeSecrets: removeSecrets, removeCertificates: removeCertificates)
            if let removed = report.removedKeyID {
                Console.out("Removed the other credentials of '\(app)' after proving its federated credential:")
                Console.out("  removed:       \(removed)")
            } else if report.unfinished {
                Console.out("Proved the federated credential of '\(app)'; removing its other credentials is not confirmed yet.")
            }
            for n in report.notes { Console.warn(n) }
            if report.unfinished {
                throw VaultError("rotation.unfinished", "the removal of '\(app)''s other credentials is not finished: Graph does not yet confirm it", context: ["app": app, "command": "federate"])
            }
            return
        }
        let request = FederationRequest(source: federated, issuer: issuer, subject: subject, audience: audience, name: name,
                                        removeSecrets: removeSecrets, removeCertificates: removeCertificates)
        let report = try service.federate(app: app, request)
        Self.print(report, resumed: false)
        if report.unfinished {
            throw VaultError("rotation.unfinished", "the move of '\(app)' is not finished: Graph does not yet confirm a removal", context: ["app": app, "command": "federate"])
        }
    }

    /// The report of a move (or of any rotation `--resume` finished: each kind is worded by its own command).
    static func print(_ r: RotationReport, resumed: Bool) {
        switch r.kind {
        case .password: RotateCommand.print(r, resumed: resumed); return
        case .certificate: RotateCertCommand.print(r, resumed: resumed); return
        case .federated: break
        }
        if r.rolledBack {
            Console.out("Rolled back the move of '\(r.app)' to a federated credential: its stored credential is unchanged\(r.unfinished ? "; the federated credential it created is not confirmed removed yet" : "").")
        } else if r.unfinished {
            Console.out("Moved '\(r.app)' to its federated credential (id \(r.newKeyID ?? "?")); removing its other credentials is not confirmed yet.")
        } else {
            Console.out("\(resumed ? "Finished moving" : "Moved") '\(r.app)' to a federated credential:")
            Console.out("  credential id: \(r.newKeyID ?? "?")")
            if let removed = r.removedKeyID { Console.out("  removed:       \(removed)") }
        }
        for n in r.notes { Console.warn(n) }
    }

    static func printAbandoned(_ j: RotationJournal, app: String) {
        switch j.kind {
        case .password, .certificate:
            Console.out("Dropped the pending \(j.kind == .password ? "rotation" : "certificate rotation") of '\(app)' (step \(j.step.rawValue)); run `vault \(j.kind.command) \(app) --abandon` for its details next time.")
        case .federated:
            Console.out("Dropped the pending move of '\(app)' to a federated credential (step \(j.step.rawValue)); the stored credential is \(j.step == .committed ? "the federated one, already committed" : "unchanged").")
            if j.step != .committed {
                Console.warn("the app registration may still hold the federated credential '\(j.displayName)' this move added: remove it with Graph (DELETE …/federatedIdentityCredentials/\(j.displayName)) or in the portal")
            }
        }
    }
}
