import EntraAuth
import FoundationEssentials
@testable import Graph
import Testing
@testable import VaultRotation
import VaultCrypto
import VaultErrors
import VaultRecords

// `vault federate` is the rotation machine's third credential kind: these run it against the same memory twins as the
// secret and certificate rotations, killed after every named step.

@Suite("moving an app to a federated credential: the machine's third kind, killed at every step")
struct FederatedMoveTests {
    @Test("the move creates the FIC, proves it, commits it, then removes the password: the app ends secretless")
    func fullMove() throws {
        let r = Rig.federated()
        let (j, prepared) = try r.journal()
        let report = try r.machine().run(j, prepared: prepared)
        #expect(!report.rolledBack && !report.unfinished)
        #expect(r.home.app.metadata.federated == Rig.federatedSource)
        #expect(r.apps.liveFederated.map(\.name) == [j.displayName])
        #expect(r.apps.liveFederated.first?.subject == "host-fleet" && r.apps.liveFederated.first?.audiences == ["api://AzureADTokenExchange"])
        r.expectSettled("move")
    }

    @Test("Entra answers AADSTS70021 while the new FIC propagates: the machine waits it out, then commits")
    func propagation() throws {
        let r = Rig.federated(propagation: 90)
        let start = r.clock.now
        let (j, prepared) = try r.journal()
        let report = try r.machine().run(j, prepared: prepared)
        #expect(!report.rolledBack)
        #expect(r.clock.now.timeIntervalSince(start) >= 90)
        r.expectSettled("propagation")
    }

    @Test("killed after each step, then resumed: never an app without a working credential, never an orphan FIC", arguments: Rig.steps)
    func killedAndResumed(_ step: String) throws {
        let r = Rig.federated(readLag: 3)
        let (j, prepared) = try r.journal()
        #expect(throws: Killed.self) { _ = try r.machine(killAt: step).run(j, prepared: prepared) }
        #expect(r.storedWorks(), "killed \(step): the stored credential does not work")
        let settled = try r.machine().settle(patience: .waitForLag)
        #expect((settled == nil) == (step == "after-clear"), "killed \(step)")
        if settled?.rolledBack == true {
            // Rolled back (killed before the FIC was journaled as added): no FIC left, the password kept and stored.
            #expect(r.apps.liveFederated.isEmpty, "killed \(step): orphan FIC \(r.apps.liveFederated.map(\.name))")
            #expect(r.home.app.metadata.federated == nil && r.apps.live.count == 1)
            #expect(r.home.journal == nil && r.storedWorks())
        } else {
            r.expectSettled("killed \(step)")
        }
        // A FIC is found by its journaled name: a move killed right after the add goes forward, not back.
        if step == "after-add" { #expect(settled?.rolledBack == false) }
    }

    @Test("a FIC that never works is rolled back within the timeout: the FIC goes, the secret stays")
    func neverWorks() throws {
        let r = Rig.federated(propagation: 10_000)
        let (j, prepared) = try r.journal()
        let e = try #require(throws: VaultError.self) { _ = try r.machine(propagationTimeout: 60).run(j, prepared: prepared) }
        #expect(e.code == "rotation.unproven")
        #expect(r.apps.liveFederated.isEmpty && r.apps.live.count == 1)
        #expect(r.home.app.metadata.federated == nil && r.home.journal == nil && r.storedWorks())
    }

    @Test("a lost answer to the FIC's creation: it is found by its name and the move goes on")
    func lostAnswer() throws {
        let r = Rig.federated(readLag: 5)
        r.apps.faults.withLock { $0 = [.loseAnswer] }
        let (j, prepared) = try r.journal()
        do {
            _ = try r.machine().run(j, prepared: prepared)
            Issue.record("the lost answer was not reported")
        } catch let e as VaultError {
            #expect(e.reason.contains("finished from its journal"), "\(e.reason)")
        }
        r.expectSettled("lost answer")
    }

    @Test("a FIC of the move's name but another issuer or subject (someone else's) is never taken for the move's, nor removed by its rollback")
    func foreignNamesake() throws {
        let r = Rig.federated(readLag: 2)
        let (j, prepared) = try r.journal()
        // Made between the rules' check and the add (e.g. by a person using the same --name): the add meets a 409.
        let foreign = FederatedIdentityCredential(id: MemoryApplications.newKeyID(), name: j.displayName, issuer: j.issuer ?? "",
                                                  subject: "someone-else", audiences: ["api://AzureADTokenExchange"])
        r.apps.federatedList.withLock { $0.append(.init(credential: foreign, created: r.clock.now.addingTimeInterval(-3600))) }
        do {
            let report = try r.machine().run(j, prepared: prepared)
            #expect(report.rolledBack, "the move went on with someone else's FIC")
        } catch let e as VaultError {
            #expect(e.code != "rotation.unproven", "\(e)")
            _ = try r.machine().settle(patience: .waitForLag)
        }
        #expect(r.apps.liveFederated.map(\.subject) == ["someone-else"], "the foreign FIC was removed or another left: \(r.apps.liveFederated)")
        #expect(r.home.app.metadata.federated == nil && r.home.journal == nil && r.storedWorks())
    }

    @Test("--remove-certificates takes the certificates the app signs in with (Verify), never a token-encryption one (Encrypt)")
    func certificatesToRemove() throws {
        let verify = try Applications.keyCredential(Array(#"{"keyId":"AAAAAAAA-0000-4000-8000-000000000001","type":"AsymmetricX509Cert","usage":"Verify"}"#.utf8))
        let encrypt = try Applications.keyCredential(Array(#"{"keyId":"AAAAAAAA-0000-4000-8000-000000000002","type":"AsymmetricX509Cert","usage":"Encrypt"}"#.utf8))
        #expect(verify.usage == "Verify" && verify.signsIn)
        #expect(encrypt.usage == "Encrypt" && !encrypt.signsIn)
    }

    @Test("without --remove-secrets the password stays on the app and in the vault, unused")
    func keepsSecret() throws {
        let r = Rig.federated()
        var (j, prepared) = try r.journal()
        j.removePasswords = []
        _ = try r.machine().run(j, prepared: prepared)
        #expect(r.home.app.metadata.federated == Rig.federatedSource)
        #expect(r.apps.live.count == 1 && r.home.app.secret != nil && r.apps.liveFederated.count == 1)
        #expect(r.home.journal == nil)
    }
}
