import FoundationEssentials
import Synchronization
import VaultCrypto
import VaultErrors
import VaultStore
import VaultTokens
import VaultFormat
import VaultRecords

/// The in-memory twin of a rotation home, for the machine's unit tests: one app and its journal, with the same
/// compare-and-swap on the journal id and the same commit and finish as the vault (`RotationJournal.commit`,
/// `finish`). A killed process is a machine that stopped: the state stays here for the next one to settle.
package final class MemoryRotationHome: RotationHome, Sendable {
    package struct State {
        var app: StoredApp
        var journal: (RotationJournal, SecretBytes?)?
        /// Every journal write, in order (step names), for the tests.
        var writes: [String] = []
        /// Set: the claim has lapsed (a fleet holder paused past its lock), and `vouch` refuses.
        package var lapsed = false
        /// How many times a Graph write asked the home to vouch for its claim.
        package var vouches = 0
    }

    package let state: Mutex<State>
    package let key: SecretBytes

    package init(app: StoredApp, keepAliveInterval: Double = .infinity) {
        self.keepAliveInterval = keepAliveInterval
        state = Mutex(State(app: app))
        key = SecretBytes.random(count: 32)
    }

    package var app: StoredApp { state.withLock { $0.app } }
    package var journal: RotationJournal? { state.withLock { $0.journal?.0 } }
    package var writes: [String] { state.withLock { $0.writes } }

    package func current() throws -> StoredApp { app }

    package func vouch(_ j: RotationJournal, newSecret: SecretBytes?) throws {
        try state.withLock { s in
            s.vouches += 1
            if s.lapsed { throw VaultError("rotation.superseded", "the claim on '\(j.app)' lapsed", context: ["case": "unconfirmed", "app": j.app]) }
        }
    }

    package func fingerprint(_ secret: SecretBytes, journal: RotationJournal) throws -> String {
        try KeyDerivation.fingerprint(of: secret, master: key)
    }

    package func pending() throws -> (journal: RotationJournal, newSecret: SecretBytes?)? {
        state.withLock { s in s.journal.map { (journal: $0.0, newSecret: $0.1) } }
    }

    package func refuseToStart(over pending: RotationJournal) -> VaultError {
        VaultError("rotation.pending", "a rotation of '\(pending.app)' is pending", context: ["app": pending.app])
    }

    package func begin(_ j: RotationJournal, newSecret: SecretBytes?) throws {
        try state.withLock { s in
            if let (pending, _) = s.journal { throw refuseToStart(over: pending) }
            s.journal = (j, newSecret)
            s.writes.append(j.step.rawValue)
        }
    }

    package func claim(_ j: RotationJournal, newSecret: SecretBytes?) throws {}

    package func check(_ j: RotationJournal, _ s: State) throws {
        guard let (found, _) = s.journal, found.id == j.id else {
            throw VaultError("rotation.superseded", "the rotation journal of '\(j.app)' was changed by another process", context: ["app": j.app])
        }
    }

    package func write(_ j: RotationJournal, newSecret: SecretBytes?) throws {
        try state.withLock { s in
            try check(j, s)
            s.journal = (j, newSecret)
            s.writes.append(j.step.rawValue)
        }
    }

    package func commit(_ j: RotationJournal, newSecret: SecretBytes) throws -> [String] {
        let fingerprint = { (secret: SecretBytes) in try KeyDerivation.fingerprint(of: secret, master: self.key) }
        return try state.withLock { s in
            try check(j, s)
            if let why = try j.mismatch(with: s.app, fingerprint: fingerprint) {
                throw VaultError("rotation.stale", "the rotation of '\(j.app)' was not committed: \(why)", context: ["app": j.app])
            }
            try j.commit(newSecret, into: &s.app, at: Date())
            var done = j
            done.step = .committed
            s.journal = (done, nil)
            s.writes.append(done.step.rawValue)
            return []
        }
    }

    package func finish(_ j: RotationJournal) throws {
        try state.withLock { s in
            try check(j, s)
            _ = j.finish(&s.app)
            s.journal = nil
            s.writes.append("finished")
        }
    }

    package func drop(_ j: RotationJournal) throws {
        try state.withLock { s in
            try check(j, s)
            s.journal = nil
            s.writes.append("dropped")
        }
    }

    package func abandon() throws -> RotationJournal? {
        state.withLock { s in
            defer { s.journal = nil }
            return s.journal?.0
        }
    }

    /// How often a long wait must renew the claim (a fleet home's lock: a third of its ttl), and how many times it did.
    package let keepAliveInterval: Double
    package let keepAlives = Atomic<Int>(0)
    package func keepAlive() { keepAlives.add(1, ordering: .relaxed) }
}
