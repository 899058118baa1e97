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
        case .backend, .federated, .assertion:
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
