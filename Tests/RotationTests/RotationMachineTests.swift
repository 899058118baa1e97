import EntraAuth
import FoundationEssentials
@testable import Graph
import Synchronization
import Testing
@testable import VaultCore
@testable import VaultTokens
@testable import VaultRotation
import VaultCrypto
import VaultErrors
import VaultHTTP
import VaultPKI
import VaultStore
import VaultFormat
import VaultRecords

// The one rotation machine against memory twins: an app registration whose reads lag its writes, a home in memory,
// Entra ID as a prover that accepts a credential once it has propagated, and a clock that only moves when the machine
// waits. A process killed after any named step is a machine whose checkpoint throws there; the next machine settles
// what it left. Every test runs in milliseconds of real time, whatever the lag windows and timeouts.

@Suite("the rotation machine against memory twins: every kill point, lag, propagation and lost answers")
struct RotationMachineTests {
    enum Case: String, CaseIterable { case password, certificate, move }

    func rig(_ c: Case, readLag: Double = 0, propagation: Double = 0) throws -> Rig {
        switch c {
        case .password: return Rig.password(readLag: readLag, propagation: propagation)
        case .certificate: return try Rig.certificate(readLag: readLag, propagation: propagation)
        case .move: return try Rig.certificate(fromSecret: true, readLag: readLag, propagation: propagation)
        }
    }

    @Test("a rotation runs through every step and leaves one working credential, the new one", arguments: Case.allCases)
    func fullRotation(_ c: Case) throws {
        let r = try rig(c)
        let oldCredential = r.stored
        let (j, prepared) = try r.journal()
        let report = try r.machine().run(j, prepared: prepared)
        #expect(!report.rolledBack && !report.unfinished)
        #expect(report.newKeyID != nil && report.removedKeyID != nil)
        #expect(r.home.writes == ["adding", "added", "proven", "committed", "finished"])
        r.expectSettled("full rotation")
        if case .secret(let old)? = oldCredential, case .secret(let new)? = r.stored { #expect(!old.constantTimeEquals(new)) }
        if c == .move {
            #expect(r.home.app.secret == nil && r.apps.live.isEmpty, "the moved app keeps no secret and no password")
        }
    }

    @Test("killed after each step, then settled by the next process: one working credential, no orphan, no journal",
          arguments: Case.allCases, Rig.steps)
    func killAtEveryStep(_ c: Case, _ step: String) throws {
        let r = try rig(c, readLag: 3)
        let (j, prepared) = try r.journal()
        #expect(throws: Killed.self) { try r.machine(killAt: step).run(j, prepared: prepared) }
        // Between the kill and the recovery the app works with what its home holds.
        #expect(r.storedWorks(), "killed \(step): the stored credential does not work")
        r.clock.sleep(seconds: 1)
        let settled = try r.machine().settle(patience: .waitForLag)
        #expect((settled == nil) == (step == "after-clear"), "killed \(step)")
        r.expectSettled("killed \(step)")
        // Killed at `adding` a password cannot go on (its secret was in the lost answer): the old one stays.
        if c == .password && (step == "after-journal" || step == "after-add") {
            #expect(settled?.rolledBack == true)
            #expect(r.home.app.metadata.secretKeyID == j.oldKeyID)
        } else if step != "after-journal" {
            #expect(settled?.rolledBack != true, "killed \(step): a rotation past adding goes forward")
        }
    }

    @Test("killed twice: after the first kill the recovery itself is killed at each step, and a third process settles", arguments: Rig.steps)
    func killedDuringRecovery(_ step: String) throws {
        let r = Rig.password(readLag: 3)
        let (j, prepared) = try r.journal()
        #expect(throws: Killed.self) { try r.machine(killAt: "after-journal-added").run(j, prepared: prepared) }
        _ = try? r.machine(killAt: step).settle(patience: .waitForLag)
        #expect(r.storedWorks())
        _ = try r.machine().settle(patience: .waitForLag)
        r.expectSettled("recovery killed at \(step)")
    }

    @Test("a lost answer to the adding write: a password is swept by its display name; a certificate is found by its thumbprint",
          arguments: Case.allCases)
    func lostAnswer(_ c: Case) throws {
        let r = try rig(c, readLag: 5)
        r.apps.faults.withLock { $0 = [.loseAnswer] }
        let (j, prepared) = try r.journal()
        let oldKeyID = j.oldKeyID ?? j.oldPasswordKeyID
        do {
            let report = try r.machine().run(j, prepared: prepared)
            Issue.record("the lost answer was not reported: \(report)")
        } catch let e as VaultError {
            #expect(e.code == "graph.unavailable")
            #expect(e.reason.contains(c == .password ? "any password it created was removed" : "finished from its journal"), "\(e.reason)")
        }
        r.expectSettled("lost answer")
        if c == .password {
            #expect(r.apps.live.map(\.keyID) == [oldKeyID].compactMap { $0 }, "the unjournaled password is removed, the old one kept")
        } else {
            #expect(r.apps.liveKeys.map(\.thumbprint) == [j.newThumbprint].compactMap { $0 }, "the certificate goes on")
        }
    }

    @Test("taken over while adding (the holder paused past its lock): the password it added is swept, the new holder's journal kept")
    func takenOverWhileAdding() throws {
        let r = Rig.password(readLag: 5)
        let (j, prepared) = try r.journal()
        var taker = j
        taker.id = "another-process"
        let other = taker
        let home = r.home
        r.apps.afterAdd.withLock { $0 = { home.state.withLock { $0.journal = (other, nil) } } }
        #expect(throws: VaultError.self) { _ = try r.machine().run(j, prepared: prepared) }
        #expect(r.home.journal?.id == "another-process", "the new holder's journal is not touched")
        #expect(r.apps.live.map(\.keyID) == [j.oldKeyID].compactMap { $0 }, "the password added after the takeover is removed")
        #expect(r.storedWorks())
    }

    @Test("a holder whose claim lapsed before its adding write left (paused past its lock): nothing is sent, the journal goes",
          arguments: Case.allCases)
    func lapsedBeforeAdd(_ c: Case) throws {
        let r = try rig(c)
        let (j, prepared) = try r.journal()
        let before = r.apps.live.count + r.apps.liveKeys.count
        // The claim lapses after the journal is written, as a stopped process's would while it waited for Graph's token.
        let home = r.home
        do {
            _ = try r.machine(lapseAt: "after-journal").run(j, prepared: prepared)
            Issue.record("a write went out on a lapsed claim")
        } catch let e as VaultError {
            #expect(e.code == "rotation.superseded" && e.context["case"] == "unconfirmed", "\(e)")
        }
        #expect(home.state.withLock { $0.vouches } == 1, "the home was asked once, from inside the write")
        #expect(r.apps.live.count + r.apps.liveKeys.count == before, "Graph never saw the write")
        #expect(home.writes == ["adding", "dropped"])
        #expect(r.storedWorks())
    }

    @Test("every adding write asks the home to vouch for its claim, once, and goes out when it does", arguments: Case.allCases)
    func vouchedAdd(_ c: Case) throws {
        let r = try rig(c)
        let (j, prepared) = try r.journal()
        let report = try r.machine().run(j, prepared: prepared)
        #expect(!report.rolledBack)
        #expect(r.home.state.withLock { $0.vouches } == 1)
        r.expectSettled("vouched")
    }

    /// (A move reads the new key id back from the collection it wrote: there is no answer to disbelieve.)
    @Test("an answer naming the old key is not believed: the old credential is never removed", arguments: [Case.password, .certificate])
    func answerNamesOldKey(_ c: Case) throws {
        let r = try rig(c)
        r.apps.faults.withLock { $0 = [.answerOldKeyID] }
        let (j, prepared) = try r.journal()
        let before = r.stored
        do {
            let report = try r.machine().run(j, prepared: prepared)
            #expect(c != .password, "a password's new secret cannot be found without the answer")
            #expect(report.notes.contains { $0.contains("found by its thumbprint") })
        } catch let e as VaultError {
            #expect(c == .password)
            #expect(e.code == "graph.response")
            if case .secret(let old)? = before, case .secret(let now)? = r.stored { #expect(old.constantTimeEquals(now)) }
        }
        r.expectSettled("answer naming the old key")
    }

    @Test("refused before anything was created: the journal goes and nothing else changes", arguments: Case.allCases)
    func refused(_ c: Case) throws {
        let r = try rig(c)
        r.apps.faults.withLock { $0 = [.refuseAdd] }
        let (j, prepared) = try r.journal()
        #expect(throws: VaultError.self) { try r.machine().run(j, prepared: prepared) }
        #expect(r.home.writes == ["adding", "dropped"])
        #expect(r.apps.live.count + r.apps.liveKeys.count == 1)
        r.expectSettled("refused")
    }

    @Test("a 429 to addPassword proves nothing was created: the journal goes, no sweep waits out the lag window")
    func throttled() throws {
        let r = Rig.password(readLag: 5)
        r.apps.faults.withLock { $0 = [.throttle] }
        let (j, prepared) = try r.journal()
        let start = r.clock.now
        #expect(throws: VaultError.self) { try r.machine().run(j, prepared: prepared) }
        #expect(r.home.writes == ["adding", "dropped"])
        #expect(r.clock.now == start)
        r.expectSettled("throttled")
    }

    @Test("Entra ID takes 90 s to accept the new credential: the machine waits, then commits and removes the old one",
          arguments: Case.allCases)
    func propagation(_ c: Case) throws {
        let r = try rig(c, propagation: 90)
        let start = r.clock.now
        let (j, prepared) = try r.journal()
        let report = try r.machine().run(j, prepared: prepared)
        #expect(!report.rolledBack)
        #expect(r.clock.now.timeIntervalSince(start) >= 90)
        r.expectSettled("propagation")
    }

    @Test("waiting for propagation keeps the home's claim alive: a fleet lock is renewed while the machine waits")
    func waitsKeepTheClaim() throws {
        let base = Rig.password(propagation: 90)
        let home = MemoryRotationHome(app: base.home.app, keepAliveInterval: 10)
        let r = Rig(clock: base.clock, apps: base.apps, home: home, prover: base.prover, kind: .password, certificate: nil)
        let (j, prepared) = try r.journal()
        _ = try r.machine().run(j, prepared: prepared)
        #expect(home.keepAlives.load(ordering: .relaxed) >= 9, "90 s of waiting in pieces of at most 10 s")
        r.expectSettled("waited")
    }

    @Test("a new credential that never works is rolled back within the timeout; the old one stays stored", arguments: Case.allCases)
    func neverWorks(_ c: Case) throws {
        let r = try rig(c, readLag: 2, propagation: .infinity)
        let (j, prepared) = try r.journal()
        do {
            _ = try r.machine(propagationTimeout: 30).run(j, prepared: prepared)
            Issue.record("an unproven credential was committed")
        } catch let e as VaultError {
            #expect(e.code == "rotation.unproven")
            #expect(e.reason.contains("it was removed and the old one kept"), "\(e.reason)")
        }
        #expect(r.home.writes.last == "dropped")
        r.expectSettled("never works")
    }

    @Test("a settle without patience never waits: a recent removal is left for later, then finished")
    func settleWithoutPatience() throws {
        let r = Rig.password(readLag: 5)
        let (j, prepared) = try r.journal()
        #expect(throws: Killed.self) { try r.machine(killAt: "after-add").run(j, prepared: prepared) }
        let before = r.clock.now
        let quick = try #require(try r.machine().settle(patience: .none))
        #expect(quick.rolledBack && quick.unfinished)
        #expect(r.clock.now.timeIntervalSince(before) < 1, "a command on its way to a token does not wait for Graph's lag")
        #expect(r.home.journal?.step == .removing)
        #expect(r.storedWorks())
        _ = try r.machine().settle(patience: .waitForLag)
        r.expectSettled("settled later")
    }

    @Test("a journal that does not belong to the stored app is refused, never committed")
    func staleJournal() throws {
        let r = Rig.password()
        let (j, prepared) = try r.journal()
        #expect(throws: Killed.self) { try r.machine(killAt: "after-journal-added").run(j, prepared: prepared) }
        r.home.state.withLock { s in
            var other = Array("someone-else".utf8)
            s.app.secret = SecretBytes(consuming: &other)
        }
        do {
            _ = try r.machine().settle(patience: .waitForLag)
            Issue.record("a stale journal was settled")
        } catch let e as VaultError {
            #expect(e.code == "rotation.stale")
        }
        #expect(r.home.journal?.step == .added, "the journal is left for the user to look at")
    }

    @Test("--keep-old: the old password stays on the app and the previous secret in the home")
    func keepOld() throws {
        let r = Rig.password()
        let (j, prepared) = try r.journal(keepOld: true)
        let report = try r.machine().run(j, prepared: prepared)
        #expect(report.keptOld && report.removedKeyID == nil)
        #expect(r.apps.live.count == 2)
        #expect(r.home.app.previous != nil)
        #expect(r.home.journal == nil && r.storedWorks())
    }
}
