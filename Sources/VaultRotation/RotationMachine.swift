import EntraAuth
import FoundationEssentials
import Graph
import VaultCrypto
import VaultErrors
import VaultHTTP

/// What a rotation (or its recovery) did.
public struct RotationReport: Sendable {
    public var app: String
    public var kind: RotationJournal.Kind = .password
    public var newKeyID: String?
    public var newHint: String?
    public var newThumbprint: String?
    /// When the new credential expires.
    public var newEnd: Date?
    public var removedKeyID: String?
    public var keptOld = false
    public var rolledBack = false
    /// The journal is still there (a removal not yet confirmed over the lag window): a later command finishes it.
    public var unfinished = false
    public var notes: [String] = []

    public init(app: String, kind: RotationJournal.Kind = .password) {
        self.app = app
        self.kind = kind
    }
}

/// The one rotation state machine, for every credential kind and every home of the secret:
///
///     adding → added → proven → committed → (journal cleared)
///        ↘        ↘ (proof failed)
///         removing → (journal dropped): rolled back
///
/// Each arrow is a journal write in the home before the next Graph side effect, so a process killed anywhere leaves a
/// journal from which `settle` finishes or rolls back the rotation, and the app always holds a working credential:
/// the old one until the commit, the new one from it. The two seams: `CredentialKind` (the Graph calls of a password,
/// a certificate) and `RotationHome` (where the journal and the committed credential live: this vault or a fleet
/// backend). Time comes from `clock`, so every kill point is a unit test against memory twins.
package struct RotationMachine: Sendable {
    package let kind: any CredentialKind
    package let home: any RotationHome
    package let prover: any CredentialProver
    /// The wall clock and waits; the machine's waits keep the home's claim alive (`HomeSleeper`). The kinds get a clock
    /// that does the same from whoever wires them (`RotationService.machine`).
    package let clock: RotationClock
    package let lag: LagPolicy
    package var propagationTimeout: Double = 120
    package var pollInterval: Double = 2
    /// After each named step (the audit line and the tests' kill point). Throwing from it stops the machine there.
    package let checkpoint: @Sendable (String) throws -> Void
    /// After the commit: tokens got with the old credential go.
    package let committed: @Sendable (String) -> Void
    /// Told before a long wait (a removal confirmed over Graph's lag window), so that a command does not sit silent.
    package var waiting: (@Sendable (String) -> Void)?

    package init(kind: any CredentialKind, home: any RotationHome, prover: any CredentialProver, clock: RotationClock, lag: LagPolicy,
         checkpoint: @escaping @Sendable (String) throws -> Void, committed: @escaping @Sendable (String) -> Void = { _ in }) {
        self.kind = kind
        self.home = home
        self.prover = prover
        self.clock = RotationClock(now: clock.now, sleeper: HomeSleeper(inner: clock.sleeper, home: home))
        self.lag = lag
        self.checkpoint = checkpoint
        self.committed = committed
    }

    /// How long a command may wait for Graph: the rotate/resume commands wait out the lag window; a command that only
    /// settles a rotation on its way to a token never waits for it.
    package enum Patience { case waitForLag, none }

    /// What the user calls the stored credential, and what the app registration holds of it.
    package var noun: String {
        switch kind.kind {
        case .password: return "secret"
        case .certificate: return "certificate"
        case .federated: return "federated credential"
        }
    }
    package var onApp: String { kind.kind == .certificate ? "certificate" : kind.kind == .password ? "password" : "federated credential" }

    // MARK: a new rotation

    /// Runs a rotation from its first journal (step `adding`, the before-state filled in by the caller). `prepared`
    /// is the new credential when the kind makes it before the Graph write (a certificate's private key).
    package func run(_ start: RotationJournal, prepared: SecretBytes?) throws -> RotationReport {
        var j = start
        try home.begin(j, newSecret: prepared)
        try checkpoint("after-journal")
        // Graph has no conditional writes: the home vouches for its claim immediately before the add leaves; a refusal
        // there means nothing was sent.
        let home = self.home
        let first = j
        let vouch: BeforeSend = {
            do { try home.vouch(first, newSecret: prepared) } catch let e as VaultError { throw NothingAdded(error: e) }
        }
        let added: AddedCredential
        do {
            added = try kind.add(j, newSecret: prepared, beforeSend: vouch)
        } catch let e as NothingAdded {
            try home.drop(j)
            throw e.error
        } catch let e as RotationHalt {
            throw e.error
        } catch let error as VaultError {
            if Self.nothingCreated(error) {
                try home.drop(j)
                throw error
            }
            // The write may have taken effect without our seeing the answer: the journal settles it.
            let report = try recoverAdding(j, newSecret: prepared, patience: .waitForLag)
            let outcome = !report.rolledBack ? "; the rotation was finished from its journal"
                : report.unfinished ? "; a \(onApp) it may have created is not confirmed removed yet (vault finishes that later)"
                : "; any \(onApp) it created was removed"
            throw error.saying(outcome)
        }
        try checkpoint("after-add")
        var keyID = added.keyID
        var notes: [String] = []
        if !isNew(keyID, j) {
            // An answer naming the old credential, or any the app held before, is not believed: acting on it would make a
            // rollback remove a working credential. A kind that holds the new credential finds it on the app itself.
            let wrong = "Graph answered the write of the new \(noun) with keyId '\(keyID.prefix(64))', which is not a new credential's id"
            guard case .present(let found)? = try kind.find(j, until: deadline(after: j.started, .waitForLag, window: lag.window(j))),
                  isNew(found, j) else {
                _ = try rollBack(j, patience: .waitForLag)
                throw VaultError("graph.response", wrong + "; the rotation was rolled back", context: ["case": "rotation"])
            }
            keyID = found
            notes.append(wrong + "; the new \(noun) was found by its thumbprint instead")
        }
        guard let newSecret = added.secret ?? prepared else {
            throw VaultError("rotation.journal", "the rotation of '\(j.app)' has no new \(noun) to journal")
        }
        j.step = .added
        j.newKeyID = keyID
        j.newHint = added.hint ?? j.newHint
        if j.oldFingerprint != nil { j.newFingerprint = try home.fingerprint(newSecret, journal: j) }
        do {
            try home.write(j, newSecret: newSecret)
        } catch let e as VaultError where e.code == "rotation.superseded" {
            // Taken over while adding (paused past the lock): unless the new journal carries this credential, no one
            // will finish it, so it is swept by its key id and display name.
            if case .success(let p) = Result(catching: { try home.pending() }), p?.journal.newKeyID != keyID,
               case .success(let s) = Result(catching: { try home.current() }), s.metadata.secretKeyID != keyID {
                // It may have landed just now (held up in the network), not at the rotation's start: the lag window
                // a read may not show it counts from now.
                var late = j
                late.started = clock.now()
                _ = try? kind.removeNew(late, until: deadline(after: late.started, .waitForLag, window: lag.window(j)))
            }
            throw e
        }
        try checkpoint("after-journal-added")
        var report = try advance(j, newSecret: newSecret, patience: .waitForLag)
        report.notes += notes
        return report
    }

    package func isNew(_ keyID: String, _ j: RotationJournal) -> Bool {
        Applications.isKeyID(keyID) && keyID != j.oldKeyID && !j.keyIDsBefore.contains(keyID)
    }

    /// Graph answers that prove the request was refused before anything was created.
    package static func nothingCreated(_ e: VaultError) -> Bool {
        ["graph.forbidden", "graph.unauthorized", "graph.bad_request", "graph.not_found", "graph.foreign_link",
         "graph.credential_lifetime_policy", "graph.object_too_large", "graph.unsupported_query", "graph.not_implemented",
         "graph.throttled"].contains(e.code)
    }

    // MARK: recovery

    /// Finishes or rolls back the pending rotation of the home's app; nil when there is none. The caller holds the
    /// app's rotation lock.
    package func settle(patience: Patience) throws -> RotationReport? {
        guard let (journal, secret) = try home.pending() else { return nil }
        let stored = try home.current()
        if let why = try journal.mismatch(with: stored, fingerprint: { try home.fingerprint($0, journal: journal) }) {
            let command = journal.kind.command
            var context: VaultError.Context = ["app": journal.app, "command": command]
            if let left = journal.newKeyID {
                context["leftover"] = left
                context["leftover_kind"] = journal.kind == .password ? "password" : "key"
            }
            throw VaultError("rotation.stale", "the pending rotation of '\(journal.app)' does not belong to the stored app: \(why); it was not finished", context: context)
        }
        try home.claim(journal, newSecret: secret)
        switch journal.step {
        case .adding:
            return try recoverAdding(journal, newSecret: secret, patience: patience)
        case .removing:
            return try rollBack(journal, patience: patience)
        case .committed:
            return try advance(journal, newSecret: nil, patience: patience)
        case .added, .proven:
            guard let secret else {
                // A journal past `adding` always holds the new credential; without it, undo what the journal names.
                return try rollBack(journal, patience: patience)
            }
            return try advance(journal, newSecret: secret, patience: patience)
        }
    }

    /// At `adding`, the answer lost: a kind that holds the new credential looks for it and goes on; otherwise (or when
    /// it is certainly absent) the rotation is rolled back.
    package func recoverAdding(_ start: RotationJournal, newSecret: SecretBytes?, patience: Patience) throws -> RotationReport {
        let settled = start.started.addingTimeInterval(lag.window(start))
        if newSecret != nil, patience == .waitForLag, settled.timeIntervalSince(clock.now()) > 5 {
            waiting?("looking for the new \(onApp) the interrupted \(start.kind == .federated ? "move" : "rotation") of '\(start.app)' may have created: its absence is certain only once Graph's replication lag window (\(Int(lag.window(start))) s) has passed since it started, \(Int(settled.timeIntervalSince(clock.now()))) s from now")
        }
        guard let newSecret, let presence = try kind.find(start, until: deadline(after: start.started, patience, window: lag.window(start))) else {
            return try rollBack(start, patience: patience)
        }
        var j = start
        switch presence {
        case .present(let keyID) where isNew(keyID, j):
            j.step = .added
            j.newKeyID = keyID
            if j.oldFingerprint != nil { j.newFingerprint = try home.fingerprint(newSecret, journal: j) }
            try home.write(j, newSecret: newSecret)
            return try advance(j, newSecret: newSecret, patience: patience)
        case .present:
            return try rollBack(j, patience: patience)
        case .absent:
            try home.drop(j)
            var report = RotationReport(app: j.app, kind: j.kind)
            report.rolledBack = true
            report.notes.append("the write of the new \(noun) had not taken effect; the stored \(noun) is unchanged")
            return report
        case .unknown:
            var report = RotationReport(app: j.app, kind: j.kind)
            report.rolledBack = true
            report.unfinished = true
            return report
        }
    }

    /// From wherever the journal stands: prove, commit, remove the old credential, clear the journal (`newSecret` is
    /// needed before the commit only).
    package func advance(_ start: RotationJournal, newSecret: SecretBytes?, patience: Patience) throws -> RotationReport {
        var j = start
        if j.step == .added || j.step == .proven, newSecret == nil {
            throw VaultError("rotation.journal", "the rotation journal of '\(j.app)' lacks the new \(noun)", context: ["case": "incomplete"])
        }
        var report = RotationReport(app: j.app, kind: j.kind)
        report.newKeyID = j.newKeyID
        report.newHint = j.newHint
        report.newThumbprint = j.newThumbprint
        report.newEnd = j.newEnd
        if j.step == .added, let newSecret {
            do {
                try prove(try kind.candidate(j, newSecret: newSecret))
            } catch let error as VaultError {
                let undo = try rollBack(j, patience: patience)
                throw VaultError("rotation.unproven", "the new \(noun) did not work (\(error.reason)); " + (undo.unfinished
                    ? "it is being removed (not confirmed yet) and the old one kept" : "it was removed and the old one kept"),
                    context: error.context.wrapped(in: ["app": j.app, "kind": kind.kind == .password ? "password" : kind.kind == .federated ? "federated" : "certificate",
                                                           "cause": error.code.rawValue]))
            }
            j.step = .proven
            try home.write(j, newSecret: newSecret)
            try checkpoint("after-prove")
        }
        if j.step == .proven, let newSecret {
            let siblings = try home.commit(j, newSecret: newSecret)
            j.step = .committed
            for name in siblings { report.notes.append("also stored the new secret for '\(name)', the same app registration") }
            committed(j.app)
            try checkpoint("after-commit")
        }
        switch try kind.removeOld(j, until: deadline(after: j.oldCreated, patience, window: lag.window(j))) {
        case .notYet:
            report.unfinished = true
            report.notes.append("the old \(onApp) \(j.oldKeyID ?? "?") is not confirmed removed yet (Graph's reads lag its writes); vault finishes that on a later use of the app")
            return report
        case .removed(let keyID):
            report.removedKeyID = keyID
            try checkpoint("after-remove")
        case .gone:
            try checkpoint("after-remove")
        case .nothing:
            break
        }
        report.keptOld = j.keepOld
        try home.finish(j)
        try checkpoint("after-clear")
        return report
    }

    /// Removes what a rotation added, confirmed over the lag window; drops the journal once that is certain. Without
    /// patience it makes one pass and leaves the journal (step `removing`) for a later command.
    package func rollBack(_ start: RotationJournal, patience: Patience) throws -> RotationReport {
        var j = start
        if j.step != .removing {
            j.step = .removing
            try home.write(j, newSecret: nil)
        }
        var report = RotationReport(app: j.app, kind: j.kind)
        report.rolledBack = true
        let settled = j.started.addingTimeInterval(lag.window(j))
        if patience == .waitForLag, settled.timeIntervalSince(clock.now()) > 5 {
            waiting?("removing the new \(onApp) of '\(j.app)': confirming it is gone takes until Graph's replication lag window (\(Int(lag.window(j))) s) has passed since \(j.kind == .federated ? "the move" : "the rotation") started, \(Int(settled.timeIntervalSince(clock.now()))) s from now")
        }
        if try kind.removeNew(j, until: deadline(after: j.started, patience, window: lag.window(j))) {
            try home.drop(j)
            report.notes.append(j.newKeyID.map { "the new \(onApp) it had created (id \($0)) was removed" }
                ?? "the interrupted rotation's new \(onApp), if it had created one, was removed")
        } else {
            report.unfinished = true
        }
        return report
    }

    package func deadline(after created: Date?, _ patience: Patience, window: Double) -> Date {
        let now = clock.now()
        switch patience {
        case .none: return now
        case .waitForLag:
            let settled = (created ?? .distantPast).addingTimeInterval(window)
            return max(settled, now).addingTimeInterval(30)
        }
    }

    /// A token with the new credential straight from Entra ID (retrying rejections while it propagates), then one
    /// Graph call with it (retrying 401s for the same reason).
    package func prove(_ credential: AppCredential) throws {
        let deadline = clock.now().addingTimeInterval(propagationTimeout)
        var token: String?
        while token == nil {
            do {
                token = try prover.token(with: credential)
            } catch let e as VaultError where EntraErrors.mayBePropagating(e) && clock.now() < deadline {
                clock.sleeper.sleep(seconds: pollInterval)
            }
        }
        while true {
            do {
                try prover.graphCall(with: token ?? "")
                return
            } catch let e as VaultError where e.code == "graph.unauthorized" && clock.now() < deadline {
                clock.sleeper.sleep(seconds: pollInterval)
            }
        }
    }
}
