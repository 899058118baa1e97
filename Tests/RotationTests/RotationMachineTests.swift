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

/// Time that moves only when someone waits.
final class ManualClock: Sleeper, Sendable {
    let time = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    var now: Date { time.withLock { $0 } }
    func sleep(seconds: Double) { time.withLock { $0 = $0.addingTimeInterval(max(0, seconds)) } }
    var rotationClock: RotationClock { RotationClock(now: { self.now }, sleeper: self) }
}

/// An app registration in memory, as Graph behaves (docs/protocols.md, "Graph: credential propagation"): a write shows
/// in reads only `readLag` seconds later, and removePassword answers "not found" for a password reads do not show yet.
final class MemoryApplications: ApplicationCredentials, Sendable {
    struct Password {
        var keyID: String
        var secret: [UInt8]
        var displayName: String
        var created: Date
        var removed = false
    }
    struct Key {
        var keyID: String
        var thumbprint: String
        var der: [UInt8]
        var created: Date
        var removed = false
        var raw: [UInt8] { Array("{\"keyId\":\"\(keyID)\",\"customKeyIdentifier\":\"\(thumbprint)\",\"key\":\"\(Data(der).base64EncodedString())\"}".utf8) }
    }
    enum Fault { case refuseAdd, throttle, loseAnswer, answerOldKeyID }
    /// Runs right after a password is added (another process acting while this one was paused, say).
    let afterAdd = Mutex<(@Sendable () -> Void)?>(nil)

    let clock: ManualClock
    let readLag: Double
    let passwordList = Mutex<[Password]>([])
    let keyList = Mutex<[Key]>([])
    let faults = Mutex<[Fault]>([])
    let objectID = "00000000-0000-4000-8000-00000000000a"

    init(clock: ManualClock, readLag: Double = 0) {
        self.clock = clock
        self.readLag = readLag
    }

    func visible(_ created: Date) -> Bool { created.addingTimeInterval(readLag) <= clock.now }
    func nextFault() -> Fault? { faults.withLock { $0.isEmpty ? nil : $0.removeFirst() } }
    static func newKeyID() -> String { UUID().uuidString.lowercased() }

    /// A password that exists now (what Entra ID accepts), whatever reads show.
    var live: [Password] { passwordList.withLock { $0.filter { !$0.removed } } }
    var liveKeys: [Key] { keyList.withLock { $0.filter { !$0.removed } } }

    @discardableResult
    func seedPassword(_ secret: String, displayName: String = "portal") -> Password {
        let p = Password(keyID: Self.newKeyID(), secret: Array(secret.utf8), displayName: displayName, created: .distantPast)
        passwordList.withLock { $0.append(p) }
        return p
    }

    func seedKey(_ c: CertificateCredential) -> Key {
        let k = Key(keyID: Self.newKeyID(), thumbprint: c.certificate.sha1Hex, der: c.certificate.der, created: .distantPast)
        keyList.withLock { $0.append(k) }
        return k
    }

    func unavailable() -> VaultError {
        VaultError("graph.unavailable", "Graph answered HTTP 504 Gateway Timeout")
    }

    func passwords() throws -> [PasswordCredential] {
        passwordList.withLock { $0.filter { !$0.removed && visible($0.created) } }
            .map { PasswordCredential(keyID: $0.keyID, hint: String(decoding: $0.secret.prefix(3), as: UTF8.self), displayName: $0.displayName) }
    }

    func addPassword(displayName: String, end: Date) throws -> AddedPassword {
        let fault = nextFault()
        if fault == .refuseAdd { throw VaultError("graph.forbidden", "Graph answered 403") }
        if fault == .throttle { throw VaultError("graph.throttled", "Graph kept answering 429") }
        var secret = Array(UUID().uuidString.utf8)
        let p = Password(keyID: Self.newKeyID(), secret: secret, displayName: displayName, created: clock.now)
        passwordList.withLock { $0.append(p) }
        if let hook = afterAdd.withLock({ h -> (@Sendable () -> Void)? in defer { h = nil }; return h }) { hook() }
        if fault == .loseAnswer { throw unavailable() }
        let keyID = fault == .answerOldKeyID ? passwordList.withLock { $0[0].keyID } : p.keyID
        return AddedPassword(credential: PasswordCredential(keyID: keyID, hint: String(decoding: secret.prefix(3), as: UTF8.self), displayName: displayName),
                             secret: SecretBytes(consuming: &secret))
    }

    func removePassword(keyID: String) throws -> Applications.Removal {
        passwordList.withLock { list in
            guard let i = list.firstIndex(where: { $0.keyID == keyID && !$0.removed && visible($0.created) }) else { return .notFound }
            list[i].removed = true
            return .removed
        }
    }

    func keys() throws -> (keys: [KeyCredential], objectID: String) {
        (keyList.withLock { $0.filter { !$0.removed && visible($0.created) } }.map { KeyCredential(keyID: $0.keyID, thumbprint: $0.thumbprint) }, objectID)
    }

    func keysForUpdate() throws -> (keys: [KeyCredential], raw: [[UInt8]], objectID: String) {
        let shown = keyList.withLock { $0.filter { !$0.removed && visible($0.created) } }
        return (shown.map { KeyCredential(keyID: $0.keyID, thumbprint: $0.thumbprint) }, shown.map(\.raw), objectID)
    }

    func addKey(objectID: String, certificate: [UInt8], displayName: String, proof: SecretBytes) throws -> KeyCredential {
        let fault = nextFault()
        if fault == .refuseAdd { throw VaultError("graph.forbidden", "Graph answered 403") }
        let k = Key(keyID: Self.newKeyID(), thumbprint: try CertificateInfo(der: certificate).sha1Hex, der: certificate, created: clock.now)
        keyList.withLock { $0.append(k) }
        if fault == .loseAnswer { throw unavailable() }
        return KeyCredential(keyID: fault == .answerOldKeyID ? keyList.withLock { $0[0].keyID } : k.keyID, thumbprint: k.thumbprint)
    }

    func removeKey(objectID: String, keyID: String, proof: SecretBytes) throws -> Applications.Removal {
        keyList.withLock { list in
            guard let i = list.firstIndex(where: { $0.keyID == keyID && !$0.removed }) else { return .notFound }
            list[i].removed = true
            return .removed
        }
    }

    /// PATCH of the whole collection: what is not in `existing` goes, `adding` comes.
    func replaceKeys(objectID: String, existing: [[UInt8]], adding: [UInt8]?, displayName: String) throws {
        let fault = nextFault()
        if fault == .refuseAdd { throw VaultError("graph.forbidden", "Graph answered 403") }
        let now = clock.now
        try keyList.withLock { list in
            for i in list.indices where !list[i].removed && !existing.contains(list[i].raw) { list[i].removed = true }
            if let adding {
                list.append(Key(keyID: Self.newKeyID(), thumbprint: try CertificateInfo(der: adding).sha1Hex, der: adding, created: now))
            }
        }
        if fault == .loseAnswer { throw unavailable() }
    }
}

/// Entra ID and Graph as a proof sees them: a credential works once it exists on the app and `propagation` seconds
/// have passed since it was made.
struct MemoryProver: CredentialProver {
    let apps: MemoryApplications
    var propagation: Double = 0

    func works(_ credential: AppCredential) -> Bool {
        let now = apps.clock.now
        switch credential {
        case .secret(let s):
            return apps.live.contains { p in p.created.addingTimeInterval(propagation) <= now && p.secret.withUnsafeBytes { s.constantTimeEquals($0) } }
        case .certificate(let c):
            guard let der = Data(base64Encoded: c.certificateBase64), let info = try? CertificateInfo(der: Array(der)) else { return false }
            return apps.liveKeys.contains { $0.thumbprint == info.sha1Hex && $0.created.addingTimeInterval(propagation) <= now }
        case .backend:
            return false
        }
    }

    func token(with credential: AppCredential) throws -> String {
        guard works(credential) else { throw VaultError("entra.invalid_client", "AADSTS7000215: invalid client secret") }
        return "token"
    }

    func graphCall(with token: String) throws {}
}

/// A process killed after a named step.
struct Killed: Error { let step: String }

/// One app, its registration and its home, and the machine that rotates it.
struct Rig {
    let clock: ManualClock
    let apps: MemoryApplications
    let home: MemoryRotationHome
    var prover: MemoryProver
    let kind: RotationJournal.Kind
    let certificate: CertificateCredential?

    static let steps = ["after-journal", "after-add", "after-journal-added", "after-prove", "after-commit", "after-remove", "after-clear"]

    /// A password app: one password on the registration, its secret stored.
    static func password(readLag: Double = 0, propagation: Double = 0) -> Rig {
        let clock = ManualClock()
        let apps = MemoryApplications(clock: clock, readLag: readLag)
        let old = apps.seedPassword("old-secret-value")
        var meta = AppMetadata(name: "demo", tenant: "contoso", clientID: "11111111-1111-4111-8111-111111111111", cloud: "public",
                               authority: nil, secretHint: "old", added: .distantPast)
        meta.secretKeyID = old.keyID
        var secret = old.secret
        let home = MemoryRotationHome(app: StoredApp(metadata: meta, secret: SecretBytes(consuming: &secret)))
        return Rig(clock: clock, apps: apps, home: home, prover: MemoryProver(apps: apps, propagation: propagation), kind: .password, certificate: nil)
    }

    /// A certificate app (or, `fromSecret`, a password app about to move to a certificate).
    static func certificate(fromSecret: Bool = false, readLag: Double = 0, propagation: Double = 0) throws -> Rig {
        let clock = ManualClock()
        let apps = MemoryApplications(clock: clock, readLag: readLag)
        var meta = AppMetadata(name: "demo", tenant: "contoso", clientID: "11111111-1111-4111-8111-111111111111", cloud: "public",
                               authority: nil, secretHint: "", added: .distantPast)
        var stored: StoredApp
        var current: CertificateCredential?
        if fromSecret {
            let old = apps.seedPassword("old-secret-value")
            meta.secretHint = "old"
            meta.secretKeyID = old.keyID
            var secret = old.secret
            stored = StoredApp(metadata: meta, secret: SecretBytes(consuming: &secret))
        } else {
            let c = try CertificateGeneration.generate(subject: "CN=demo", validDays: 30, keyBits: 2048, now: clock.now.addingTimeInterval(-86_400))
            let key = apps.seedKey(c)
            CertificateMetadata.describe(CertificateChoice(credential: c), in: &meta)
            meta.certificateKeyID = key.keyID
            stored = StoredApp(metadata: meta, secret: nil, certificateKey: c.privateKey)
            current = c
        }
        let home = MemoryRotationHome(app: stored)
        return Rig(clock: clock, apps: apps, home: home, prover: MemoryProver(apps: apps, propagation: propagation), kind: .certificate, certificate: current)
    }

    func machine(killAt: String? = nil, lagWindow: Double = 180, propagationTimeout: Double = 120) -> RotationMachine {
        let lag = LagPolicy(seconds: lagWindow, isExplicit: false)
        let apps = self.apps
        let home = self.home
        let credential: any CredentialKind
        switch kind {
        case .password:
            credential = PasswordKind(applications: { apps }, lag: lag, clock: clock.rotationClock)
        case .certificate:
            credential = CertificateKind(applications: { apps }, storedCertificate: {
                let app = home.app
                guard app.metadata.usesCertificate, let b64 = app.metadata.certificate, let der = Data(base64Encoded: b64),
                      let key = app.certificateKey else { return nil }
                return try CertificateCredential(certificate: try CertificateInfo(der: Array(der)), privateKey: key)
            }, algorithm: .ps256, sendX5C: false, lag: lag, clock: clock.rotationClock)
        }
        var m = RotationMachine(kind: credential, home: home, prover: prover, clock: clock.rotationClock, lag: lag,
                                checkpoint: { step in if step == killAt { throw Killed(step: step) } })
        m.propagationTimeout = propagationTimeout
        return m
    }

    /// The first journal, as `RotationService` writes it.
    func journal(keepOld: Bool = false) throws -> (RotationJournal, SecretBytes?) {
        let now = clock.now
        let stored = home.app
        var j = RotationJournal(kind: kind, id: UUID().uuidString.lowercased(), app: "demo", step: .adding, started: now,
                                displayName: "vault test \(UUID().uuidString.prefix(8))")
        j.clientID = stored.metadata.clientID
        j.tenant = stored.metadata.tenant
        j.lagWindow = 180
        switch kind {
        case .password:
            j.keyIDsBefore = try apps.passwords().map(\.keyID)
            j.oldKeyID = stored.metadata.secretKeyID
            j.newEnd = now.addingTimeInterval(86_400 * 180)
            j.keepOld = keepOld
            j.oldFingerprint = try home.fingerprint(try #require(stored.secret), journal: j)
            return (j, nil)
        case .certificate:
            let next = try CertificateGeneration.generate(subject: "CN=demo", validDays: 30, keyBits: 2048, now: now.addingTimeInterval(-60))
            j.objectID = apps.objectID
            j.keyIDsBefore = try apps.keys().keys.map(\.keyID)
            j.newThumbprint = next.certificate.sha1Hex
            j.newCertificate = Data(next.certificate.der).base64EncodedString()
            j.newEnd = next.certificate.notAfter
            if let certificate {
                j.oldThumbprint = certificate.certificate.sha1Hex
                j.oldKeyID = stored.metadata.certificateKeyID
            } else {
                j.oldThumbprint = ""
                j.fromSecret = true
                j.oldPasswordKeyID = stored.metadata.secretKeyID
            }
            return (j, next.privateKey)
        }
    }

    /// The credential the home holds now, as a token request would present it.
    var stored: AppCredential? {
        let app = home.app
        if app.metadata.usesCertificate, let b64 = app.metadata.certificate, let key = app.certificateKey {
            return .certificate(StoredCertificate(certificateBase64: b64, privateKey: key))
        }
        return app.secret.map { .secret($0) }
    }

    /// The app works with what its home holds (propagation aside: a credential counts once it exists on the app).
    func storedWorks() -> Bool {
        guard let stored else { return false }
        return MemoryProver(apps: apps, propagation: 0).works(stored)
    }

    /// Settled: no journal, exactly one credential on the app (of the kind it uses), and it is the stored one.
    func expectSettled(_ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(home.journal == nil, "\(context): journal left at \(home.journal?.step.rawValue ?? "")", sourceLocation: sourceLocation)
        #expect(storedWorks(), "\(context): the stored credential does not work", sourceLocation: sourceLocation)
        let app = home.app
        if app.metadata.usesCertificate {
            #expect(apps.liveKeys.map(\.thumbprint) == [app.metadata.certificateSHA1 ?? "-"], "\(context): keys \(apps.liveKeys.map(\.keyID))", sourceLocation: sourceLocation)
        } else {
            #expect(apps.live.count == 1, "\(context): \(apps.live.count) passwords on the app", sourceLocation: sourceLocation)
            #expect(app.previous == nil, "\(context): the previous secret is still kept", sourceLocation: sourceLocation)
        }
    }
}

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
