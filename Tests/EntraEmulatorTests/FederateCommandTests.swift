import EntraEmulator
import Foundation
import Testing
import VaultTestSupport

/// `vault federate` end to end: an app with a client secret moves to a federated credential through Graph, proven
/// with a token through it, and loses its secret only after that; killed at every step and resumed.
@Suite("vault federate: from a secret to a federated credential, with proof, killed at every step", .serialized, .timeLimit(.minutes(10)))
struct FederateCommandTests {
    static let subject = "system:serviceaccount:prod:reporter"

    /// The fixture app (Application.ReadWrite.OwnedBy, owning itself) stored with its secret as "fed" (its only entry), and a fresh
    /// external token in the token file.
    func start() throws -> FederatedVault {
        let fv = try FederatedVault(fic: false)
        #expect(try fv.v.run(["add-app", "fed"] + fv.endpointArgs, stdin: "Fic8Q~emulator-test-secret-0000000000000").status == 0)
        // The harness's own entry for the registration would be a sibling that --remove-secrets breaks (refused).
        #expect(try fv.v.run(["remove", "demo", "--yes"]).status == 0)
        try fv.publish(fv.f.issuer.token(subject: Self.subject))
        return fv
    }

    /// The app registration as the emulator holds it (its admin surface: no credential of the app needed).
    func registration(_ fv: FederatedVault) throws -> (passwords: Int, fics: [[String: Any]]) {
        let app = try fv.f.emu.admin("GET", "/apps/\(FederatedFixture.clientID)")
        return ((app["passwords"] as? [Any])?.count ?? -1, app["federated_credentials"] as? [[String: Any]] ?? [])
    }

    func federate(_ fv: FederatedVault, _ extra: [String] = [], env: [String: String] = [:]) throws -> RunResult {
        try fv.v.run(["federate", "fed", "--federated", "file:" + fv.tokenFile, "--lag-window", "1"] + extra, env: env)
    }

    @Test("--remove-secrets: the FIC is created from the token's claims, proven, stored; then the password goes, from the app and the vault")
    func move() throws {
        let fv = try start()
        defer { fv.stop() }
        let r = try federate(fv, ["--remove-secrets"])
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        #expect(r.stdout.contains("Moved 'fed' to a federated credential"))
        let reg = try registration(fv)
        #expect(reg.passwords == 0, "the app's password is removed")
        #expect(reg.fics.count == 1 && reg.fics.first?["subject"] as? String == Self.subject && reg.fics.first?["issuer"] as? String == fv.f.issuer.issuer)
        let shown = try fv.json(try fv.v.run(["show", "fed", "--json"]))
        #expect(shown["credential"] as? String == "federated", "\(shown)")
        #expect(shown["secret_key_id"] == nil)
        #expect((shown["federated_credential"] as? String)?.hasPrefix("vault-") == true && shown["federated_subject"] as? String == Self.subject, "\(shown)")
        #expect(try fv.v.run(["show", "fed"]).stdout.contains("federated credential: vault-"))
        // A fresh token, through the federated credential alone.
        #expect(try fv.v.run(["cache", "clear", "fed"]).status == 0)
        let token = try fv.json(try fv.v.run(["token", "fed", "--json"]))
        #expect(token["token_source"] as? String == "identity_provider", "\(token)")
        let status = try fv.v.run(["status", "fed"])
        #expect(status.stdout.contains("federated"), "\(status.stdout)")
        #expect(status.stderr.contains("federated credential 'vault-") && status.stderr.contains(Self.subject), "\(status.stderr)")
    }

    @Test("Entra takes seconds to accept the new FIC (AADSTS70021 meanwhile): federate waits it out, then commits")
    func propagation() throws {
        let fv = try FederatedVault(fic: false, propagationDelay: 3)
        defer { fv.stop() }
        #expect(try fv.v.run(["add-app", "fed"] + fv.endpointArgs, stdin: "Fic8Q~emulator-test-secret-0000000000000").status == 0)
        try fv.publish(fv.f.issuer.token(subject: Self.subject))
        let r = try federate(fv)
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        let reg = try registration(fv)
        #expect(reg.fics.count == 1 && reg.passwords == 1, "without --remove-secrets the password stays")
        let shown = try fv.json(try fv.v.run(["show", "fed", "--json"]))
        #expect(shown["credential"] as? String == "federated", "\(shown)")
    }

    @Test("a FIC Entra cannot use (the issuer's discovery gone, AADSTS50166): rolled back, said while it waits, exit 69 with Entra's own hint")
    func unusableIssuer() throws {
        let fv = try start()
        defer { fv.stop() }
        fv.f.issuer.remove("/oidc/.well-known/openid-configuration")
        let r = try federate(fv, ["--remove-secrets", "--propagation-timeout", "1"], env: [:])
        #expect(r.status == 69, "\(r.stderr)")
        #expect(r.stderr.contains("vault: error: the new federated credential did not work") && r.stderr.contains("AADSTS50166"), "\(r.stderr)")
        #expect(r.stderr.contains("vault: hint: Entra ID fetches") && !r.stderr.contains("--propagation-timeout"), "\(r.stderr)")
        let reg = try registration(fv)
        #expect(reg.fics.isEmpty && reg.passwords == 1, "rolled back: no FIC, the password kept")
        #expect((try fv.json(try fv.v.run(["show", "fed", "--json"])))["credential"] as? String == "secret")
        // With a lag window longer than the rollback takes, the wait is announced, not silent.
        let slow = try fv.v.run(["federate", "fed", "--federated", "file:" + fv.tokenFile, "--lag-window", "8", "--propagation-timeout", "1"])
        #expect(slow.status == 69 && slow.stderr.contains("vault: warning: removing the new federated credential of 'fed'"), "\(slow.stderr)")
    }

    @Test("moved without --remove-secrets, the kept password goes later: `federate APP --remove-secrets` proves the FIC, then removes it")
    func leftoversLater() throws {
        let fv = try start()
        defer { fv.stop() }
        // Not federated yet: refused, nothing changed.
        let before = try Data(contentsOf: URL(fileURLWithPath: fv.v.vaultPath + "/vault.db"))
        let early = try fv.v.run(["federate", "fed", "--remove-secrets"])
        #expect(early.status == 64 && early.stderr.contains("is not federated") && early.stderr.contains("vault: hint: move it first"), "\(early.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: fv.v.vaultPath + "/vault.db")) == before)
        #expect(try federate(fv).status == 0)
        #expect(try registration(fv).passwords == 1)
        #expect(try fv.v.run(["show", "fed"]).stdout.contains("secret hint:"), "the vault keeps the unused secret until it is removed")
        // Killed once its journal is written: --resume finishes the removal.
        let killed = try fv.v.run(["federate", "fed", "--remove-secrets", "--lag-window", "1"], env: ["VAULT_TEST_CRASH_AT": "after-journal"])
        #expect(killed.status != 0)
        #expect(try registration(fv).passwords == 1)
        let later = try fv.v.run(["federate", "fed", "--resume", "--lag-window", "1"])
        #expect(later.status == 0, "\(later.stdout) \(later.stderr)")
        #expect(later.stdout.contains("Finished moving 'fed'") && later.stdout.contains("removed:"), "\(later.stdout)")
        let reg = try registration(fv)
        #expect(reg.passwords == 0 && reg.fics.count == 1)
        let shown = try fv.json(try fv.v.run(["show", "fed", "--json"]))
        #expect(shown["credential"] as? String == "federated", "\(shown)")
        #expect(try !fv.v.run(["show", "fed"]).stdout.contains("secret hint:"), "the vault's copy of the secret is dropped")
        #expect(try fv.v.run(["cache", "clear", "fed"]).status == 0)
        #expect(try fv.v.run(["token", "fed"]).status == 0)
        // Again: nothing left to remove, said so.
        let again = try fv.v.run(["federate", "fed", "--remove-secrets", "--lag-window", "1"])
        #expect(again.status == 0 && again.stderr.contains("holds no password"), "\(again.stderr)")
    }

    @Test("a subject the token does not carry is refused before Graph is called: no FIC, the vault byte for byte unchanged")
    func claimsMismatch() throws {
        let fv = try start()
        defer { fv.stop() }
        let before = try Data(contentsOf: URL(fileURLWithPath: fv.v.vaultPath + "/vault.db"))
        let r = try federate(fv, ["--subject", "someone-else"])
        #expect(r.status == 65, "\(r.stderr)")
        #expect(r.stderr.contains("vault: error:") && r.stderr.contains("subject") && r.stderr.contains("vault: hint:"), "\(r.stderr)")
        #expect(try registration(fv).fics.isEmpty && registration(fv).passwords == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: fv.v.vaultPath + "/vault.db")) == before)
    }

    @Test("--remove-secrets refused while another entry of the vault uses the same registration's secret; without it, the move goes ahead")
    func siblings() throws {
        let fv = try start()
        defer { fv.stop() }
        #expect(try fv.v.run(["add-app", "fed-copy"] + fv.endpointArgs, stdin: "Fic8Q~emulator-test-secret-0000000000000").status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: fv.v.vaultPath + "/vault.db"))
        let r = try federate(fv, ["--remove-secrets"])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("vault: error: app 'fed-copy' uses the same registration") && r.stderr.contains("vault: hint: leave out --remove-secrets"), "\(r.stderr)")
        #expect(try registration(fv).fics.isEmpty && registration(fv).passwords == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: fv.v.vaultPath + "/vault.db")) == before)
        // Without the removal the move goes ahead and fed-copy's secret still works.
        #expect(try federate(fv).status == 0)
        #expect(try registration(fv).fics.count == 1 && registration(fv).passwords == 1)
        let copy = try fv.json(try fv.v.run(["token", "fed-copy", "--json"]))
        #expect(copy["token_source"] as? String == "identity_provider", "\(copy)")
        // fed-copy cannot get a second FIC for the same issuer and subject (Entra refuses it); the hint says how to
        // store it as federated on the FIC the app already has, and that works.
        let again = try fv.v.run(["federate", "fed-copy", "--federated", "file:" + fv.tokenFile, "--lag-window", "1"])
        #expect(again.status == 64 && again.stderr.contains("already trusts this issuer and subject") && again.stderr.contains("--replace"), "\(again.stderr)")
        let stored = try fv.v.run(["add-app", "fed-copy"] + fv.endpointArgs + ["--federated", "file:" + fv.tokenFile, "--replace"])
        #expect(stored.status == 0, "\(stored.stderr)")
        #expect(try fv.v.run(["cache", "clear", "fed-copy"]).status == 0)
        let federated = try fv.v.run(["token", "fed-copy", "--json"])
        #expect(federated.status == 0, "\(federated.stderr)")
        #expect((try fv.json(try fv.v.run(["show", "fed-copy", "--json"])))["credential"] as? String == "federated")
    }

    @Test("a plain federate over an interrupted move: a rolled-back one is settled first, then the move asked for goes ahead")
    func plainRunAfterInterruption() throws {
        let fv = try start()
        defer { fv.stop() }
        let killed = try federate(fv, ["--remove-secrets"], env: ["VAULT_TEST_CRASH_AT": "after-journal"])
        #expect(killed.status != 0)
        let again = try federate(fv, ["--remove-secrets"])
        #expect(again.status == 0, "\(again.stdout) \(again.stderr)")
        #expect(again.stdout.contains("Rolled back the move of 'fed'") && again.stdout.contains("Moved 'fed' to a federated credential"), "\(again.stdout)")
        let reg = try registration(fv)
        #expect(reg.fics.count == 1 && reg.passwords == 0)
        #expect((try fv.json(try fv.v.run(["show", "fed", "--json"])))["credential"] as? String == "federated")
    }

    @Test("killed after each step, then --resume: the app always has a working credential and never an orphan FIC",
          arguments: ["after-read", "after-journal", "after-add", "after-journal-added", "after-prove", "after-commit", "after-remove"])
    func killedAndResumed(_ step: String) throws {
        let fv = try start()
        defer { fv.stop() }
        let killed = try federate(fv, ["--remove-secrets"], env: ["VAULT_TEST_CRASH_AT": step])
        #expect(killed.status != 0, "killed at \(step): \(killed.stdout)")
        // Between the kill and the resume, the stored credential works (a token straight from Entra ID).
        #expect(try fv.v.run(["cache", "clear", "fed"]).status == 0)
        #expect(try fv.v.run(["token", "fed", "--json"]).status == 0, "killed at \(step): no working credential")
        let resumed = try fv.v.run(["federate", "fed", "--resume", "--lag-window", "1"])
        #expect(resumed.status == 0, "killed at \(step): \(resumed.stdout) \(resumed.stderr)")
        let reg = try registration(fv)
        let shown = try fv.json(try fv.v.run(["show", "fed", "--json"]))
        if shown["credential"] as? String == "federated" {
            #expect(reg.fics.count == 1 && reg.passwords == 0, "killed at \(step), moved: \(reg.fics.count) FICs, \(reg.passwords) passwords")
        } else {
            #expect(reg.fics.isEmpty && reg.passwords == 1, "killed at \(step), rolled back: \(reg.fics.count) FICs, \(reg.passwords) passwords")
            #expect(["after-read", "after-journal"].contains(step), "killed at \(step): a move past its FIC's creation goes forward")
        }
        #expect(try fv.v.run(["cache", "clear", "fed"]).status == 0)
        #expect(try fv.v.run(["token", "fed", "--json"]).status == 0, "killed at \(step): no working credential after the resume")
        #expect(try fv.v.run(["federate", "fed", "--resume"]).stdout.contains("Nothing is pending"))
    }
}
