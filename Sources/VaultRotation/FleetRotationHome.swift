import FleetBackend
import FoundationEssentials
import Synchronization
import VaultCrypto
import VaultErrors
import VaultStore
import VaultTokens
import VaultFormat
import VaultRecords
#if canImport(Glibc)
import Glibc
#endif

/// A fleet backend as the home of an app's secret: the app's record at `TENANT/NAME`, and its rotation journal in
/// the fleet lock record at `rotation/TENANT/NAME` (`FleetLock`), so any host of the fleet can finish or roll back a
/// rotation another host started and did not finish.
///
/// - Starting takes the fleet lock (create-only check-and-set): of several hosts, one rotates; the others are told a
///   rotation is in progress, by whom and until when its lock holds.
/// - The holder renews the lock at every step and during waits. A host may take over only once the lock expired
///   (or when the holder was a process of this very host that no longer exists).
/// - The commit is a check-and-set write of the app's record on the version the rotation started from.
/// - The journal's fingerprints are keyed by the journal's own id: every host can check them; the backend, which
///   holds the secrets themselves, learns nothing new from them.
package final class FleetRotationHome: RotationHome {
    package static let defaultLockTTL: Double = 300

    package let vault: Vault
    package let unlock: Credential
    package let local: AppMetadata
    package let backend: String
    package let kv: KVClient
    package let appPath: String
    package let lock: FleetLock
    package let ttl: Double
    /// The rotation's named-step hook (one step is the home's own: `after-backend-write`, between the commit's two
    /// writes).
    package let checkpoint: @Sendable (String) -> Void
    /// What this process wrote last, to renew the lock with (journal JSON, start, new secret) and when.
    private let last = Mutex<(journal: String, started: Date, secret: SecretBytes?, at: Date)?>(nil)
    /// The lock as this process last wrote it, by the boot clock: what `vouch` goes by.
    private let lease = Mutex<LockLease?>(nil)
    /// `LockLease.now`, injected in tests.
    package let bootClock: @Sendable () -> Double

    /// `unlocked`: the vault as the caller opened it (the backend's login and this vault's id are read from it).
    package init(vault: Vault, unlock: Credential, unlocked: UnlockedVault, app: AppMetadata, ttl: Double,
         checkpoint: @escaping @Sendable (String) -> Void = { _ in }, bootClock: @escaping @Sendable () -> Double = LockLease.now) throws {
        guard let backend = app.backend, let path = app.backendPath else {
            throw VaultError("backend.app", "app '\(app.name)' names no backend path")
        }
        guard let (record, login) = try BackendService(vault: vault, unlock: unlock).record(in: unlocked, backend) else {
            throw VaultError("backend.unknown", "app '\(app.name)' names backend '\(backend)', which this vault does not hold", context: ["case": "stored", "backend": backend])
        }
        self.vault = vault
        self.unlock = unlock
        self.local = app
        self.backend = backend
        self.kv = BackendService.client(record, login: login, transport: try BackendService.transport(for: record))
        self.appPath = path
        self.ttl = ttl
        self.checkpoint = checkpoint
        self.bootClock = bootClock
        self.lock = FleetLock(kv: kv, name: FleetLock.path(tenant: app.tenant, app: app.name),
                              owner: Self.owner(vaultID: unlocked.file.vaultID))
    }

    /// `HOST/VAULTID pid N`: the host, this vault (several vaults may share a host) and the process.
    package static func owner(vaultID: [UInt8]) -> String {
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, 255) == 0 ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
        let id = vaultID.map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined()
        return "\(host)/\(id) pid \(getpid())"
    }

    /// Whether `owner` was a process of this host and vault that no longer runs.
    package func isDeadLocalProcess(_ owner: String) -> Bool {
        let mine = lock.owner.components(separatedBy: " pid ")
        let theirs = owner.components(separatedBy: " pid ")
        guard mine.count == 2, theirs.count == 2, mine[0] == theirs[0], let pid = Int32(theirs[1]), pid > 0 else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    // MARK: the app's record

    package func current() throws -> StoredApp {
        guard let found = try kv.read(appPath) else {
            throw VaultError("backend.app_missing", "the backend '\(backend)' holds no app at \(appPath)")
        }
        var meta = local
        let d = found.data
        if let h = d["secret_hint"] { meta.secretHint = h }
        meta.secretKeyID = d["secret_key_id"] ?? meta.secretKeyID
        meta.secretExpires = BackendTime.date(d["secret_expires"]) ?? meta.secretExpires
        meta.rotated = BackendTime.date(d["rotated"]) ?? meta.rotated
        // When the rotation was committed by the engine's clock, in this host's (the committing host's clock may be off:
        // bench/fleet_faults.sh seed 124, where a host 90 s slow made the next rotation miss the old password).
        if d["rotated"] != nil, let created = found.created, let here = found.local(created) { meta.rotated = here }
        meta.backendVersion = found.version
        var secret: SecretBytes?
        if let s = d["secret"], !s.isEmpty {
            var raw = Array(s.utf8)
            secret = SecretBytes(consuming: &raw)
        }
        return StoredApp(metadata: meta, secret: secret)
    }

    package func fingerprint(_ secret: SecretBytes, journal: RotationJournal) throws -> String {
        var context = Array("vault fleet rotation fingerprint".utf8)
        let key = try KeyDerivation.keyedHash(key: SecretBytes(consuming: &context), message: Array(journal.id.utf8))
        return try KeyDerivation.fingerprint(of: secret, master: key)
    }

    // MARK: the journal in the fleet lock record

    package func encode(_ j: RotationJournal) throws -> String {
        String(decoding: try VaultContents.encoder.encode(j), as: UTF8.self)
    }

    package func decode(_ record: FleetRotationRecord) -> RotationJournal {
        var j = RotationJournal.decode(.password, Data(record.journal.utf8), app: local.name)
        if j.id == "unreadable" { j.started = record.started }
        return j
    }

    package func pending() throws -> (journal: RotationJournal, newSecret: SecretBytes?)? {
        guard let (record, secret) = try lock.read(), record.state == .rotating else { return nil }
        return (decode(record), secret)
    }

    /// The fleet rotation state of the app, for `vault status`.
    package func state() throws -> FleetRotationRecord? { try lock.read()?.0 }

    package func refuseToStart(over pending: RotationJournal) -> VaultError {
        guard let record = try? lock.read()?.0 else {
            return VaultError("rotation.pending", "a fleet rotation of '\(local.name)' is pending", context: ["app": local.name])
        }
        return busy(record, journal: pending)
    }

    /// Why this host may not take `record` now: in progress elsewhere (lock live), or left by a crashed host.
    package func busy(_ record: FleetRotationRecord, journal: RotationJournal) -> VaultError {
        let name = local.name
        if record.isLive(at: Date()) && !isDeadLocalProcess(record.owner) {
            return VaultError("rotation.in_progress", "a fleet rotation of '\(name)' is in progress on \(record.owner) since \(record.started.formatted(.iso8601)) (step \(journal.step.rawValue); its lock holds until \(record.expires.formatted(.iso8601)))", context: ["app": name])
        }
        return VaultError("rotation.pending", "a fleet rotation of '\(name)' started on \(record.owner) at \(record.started.formatted(.iso8601)) stopped at step \(journal.step.rawValue) (its lock expired at \(record.expires.formatted(.iso8601)))", context: ["app": name])
    }

    /// Records a lock write that succeeded; `sent`: when it was sent, by the boot clock.
    package func remember(_ j: String, started: Date, secret: SecretBytes?, sent: Double) {
        last.withLock { $0 = (j, started, secret, Date()) }
        lease.withLock { $0 = LockLease(sent: sent, ttl: ttl) }
    }

    /// Whether the lease of the last lock write still vouches for a write leaving now.
    package var vouched: Bool { lease.withLock { $0 }?.vouches(at: bootClock()) ?? false }

    package func begin(_ j: RotationJournal, newSecret: SecretBytes?) throws {
        guard j.kind == .password else { throw Self.passwordsOnly(j) }
        let seen = try lock.read()?.0
        if let seen, seen.state == .rotating { throw busy(seen, journal: decode(seen)) }
        let json = try encode(j)
        let sent = bootClock()
        guard try lock.acquire(seen: seen, journal: json, ttl: ttl) else {
            // Another host took the lock between our read and our write.
            if let now = try lock.read()?.0 { throw busy(now, journal: decode(now)) }
            throw VaultError("rotation.in_progress", "another host started a fleet rotation of '\(local.name)' first", context: ["app": local.name])
        }
        // The journal's before-state was read before the lock was taken: a rotation by another host in between makes it
        // stale, and its commit would fail only after a new password had been added (bench/fleet_faults.sh, seed 3).
        if let from = j.backendVersion, let now = try kv.read(appPath)?.version, now != from {
            _ = try? lock.release(journal: json, started: j.started, outcome: "rolled back")
            throw VaultError("rotation.stale", "another host rotated the secret of '\(local.name)' while this host prepared its rotation (backend version \(now), read \(from)); nothing was changed",
                             context: ["case": "prepared", "app": local.name])
        }
        remember(json, started: j.started, secret: nil, sent: sent)
    }

    /// A fleet backend holds client secrets only (each host signs nothing of its own).
    package static func passwordsOnly(_ j: RotationJournal) -> VaultError {
        VaultError("rotation.fleet", "app '\(j.app)' keeps its secret in a fleet backend, which holds client secrets only", context: ["case": "certificate", "app": j.app])
    }

    package func claim(_ j: RotationJournal, newSecret: SecretBytes?) throws {
        guard let (record, _) = try lock.read(), record.state == .rotating else {
            throw VaultError("rotation.superseded", "the fleet rotation of '\(local.name)' was ended by another host", context: ["app": local.name])
        }
        if record.isLive(at: Date()) && !isDeadLocalProcess(record.owner) && record.owner != lock.owner { throw busy(record, journal: j) }
        let sent = bootClock()
        guard try lock.takeOver(record, secret: newSecret, ttl: ttl) else {
            throw VaultError("rotation.in_progress", "another host took over the fleet rotation of '\(local.name)' first", context: ["app": local.name])
        }
        remember(record.journal, started: record.started, secret: newSecret, sent: sent)
    }

    /// Vouched while half the ttl of the last lock write remains (`LockLease`); else the lock is renewed first, and the
    /// renewal must itself come back in time (a process stopped during it learns that here).
    package func vouch(_ j: RotationJournal, newSecret: SecretBytes?) throws {
        if vouched { return }
        let before = bootClock()
        try write(j, newSecret: newSecret)
        guard vouched else {
            throw VaultError("rotation.superseded", "this host could not confirm its fleet lock on '\(local.name)' in time (the renewal took \(Int((bootClock() - before).rounded())) s of a \(Int(ttl)) s lock); the Graph write was not sent", context: ["case": "unconfirmed", "app": local.name])
        }
    }

    package func superseded() -> VaultError {
        VaultError("rotation.superseded", "the fleet rotation of '\(local.name)' was taken over by another host (this host's lock had expired); this host stopped", context: ["app": local.name])
    }

    package func write(_ j: RotationJournal, newSecret: SecretBytes?) throws {
        let json = try encode(j)
        let sent = bootClock()
        guard try lock.update(journal: json, started: j.started, secret: newSecret, ttl: ttl) else { throw superseded() }
        remember(json, started: j.started, secret: newSecret, sent: sent)
    }

    /// Check-and-set on the version the rotation started from; a record that already holds the new secret was
    /// committed by this rotation before (a host that stopped between the two writes).
    package func commit(_ j: RotationJournal, newSecret: SecretBytes) throws -> [String] {
        guard j.kind == .password else { throw Self.passwordsOnly(j) }
        guard lock.holds else { throw superseded() }
        guard let found = try kv.read(appPath) else {
            throw VaultError("backend.app_missing", "the app's record at \(appPath) disappeared from backend '\(backend)' during its rotation", context: ["case": "app_vanished"])
        }
        let holdsNew = found.data["secret"].map { s in Array(s.utf8).withUnsafeBytes { newSecret.constantTimeEquals($0) } } ?? false
        var version = found.version
        if !holdsNew {
            guard let from = j.backendVersion, from == found.version else {
                throw VaultError("rotation.stale", "the rotation of '\(j.app)' was not committed: the app's record in backend '\(backend)' changed during it (version \(found.version), the rotation started from \(j.backendVersion.map(String.init) ?? "?"))", context: ["app": j.app])
            }
            let now = Date()
            var facts = found.data.filter { !["secret", "secret_hint", "secret_key_id", "secret_expires", "rotated"].contains($0.key) }
                .sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            facts += [("secret_hint", j.newHint ?? newSecret.prefixString(3)), ("secret_expires", FleetLock.seconds(j.newEnd ?? j.started)),
                      ("rotated", FleetLock.seconds(now))]
            if let k = j.newKeyID { facts.append(("secret_key_id", k)) }
            let secretText = newSecret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
            let data = facts + [("secret", secretText)]
            // A lost answer (the node died after applying the write, the client tried another) fails its own
            // check-and-set: the record then holds this new secret.
            guard let written = try kv.write(appPath, data: data, cas: from)
                    ?? kv.read(appPath).flatMap({ $0.version > from && FleetLock.sameData($0.data, data) ? $0.version : nil }) else {
                throw VaultError("rotation.stale", "the rotation of '\(j.app)' was not committed: another writer changed the app's record in backend '\(backend)' at the same moment", context: ["app": j.app])
            }
            version = written
            try kv.writeMetadata(appPath, custom: facts)
            checkpoint("after-backend-write")
        }
        var done = j
        done.step = .committed
        try write(done, newSecret: nil)
        // This host's own record follows (the others learn the new facts from the backend).
        _ = try? vault.update(unlock) { v in
            guard var app = try v.contents.app(named: j.app), app.metadata.backend == backend else { return }
            app.metadata = j.committed(app.metadata, newSecret: newSecret, at: Date())
            app.metadata.backendVersion = version
            try v.contents.putApp(app)
        }
        return []
    }

    package func finish(_ j: RotationJournal) throws {
        guard try lock.release(journal: try encode(j), started: j.started, outcome: "finished") else { throw superseded() }
        last.withLock { $0 = nil }
        lease.withLock { $0 = nil }
    }

    package func drop(_ j: RotationJournal) throws {
        guard try lock.release(journal: try encode(j), started: j.started, outcome: "rolled back") else { throw superseded() }
        last.withLock { $0 = nil }
        lease.withLock { $0 = nil }
    }

    package func abandon() throws -> RotationJournal? {
        guard let (j, secret) = try pending() else { return nil }
        try claim(j, newSecret: secret)
        guard try lock.release(journal: try encode(j), started: j.started, outcome: "abandoned") else { throw superseded() }
        return j
    }

    package var keepAliveInterval: Double { max(0.5, ttl / 3) }

    /// Renews the lock once a third of its lifetime has passed since this process last wrote it.
    package func keepAlive() {
        guard let l = last.withLock({ $0 }), Date().timeIntervalSince(l.at) > ttl / 3 else { return }
        let sent = bootClock()
        if (try? lock.update(journal: l.journal, started: l.started, secret: l.secret, ttl: ttl)) == true {
            remember(l.journal, started: l.started, secret: l.secret, sent: sent)
        }
    }
}
