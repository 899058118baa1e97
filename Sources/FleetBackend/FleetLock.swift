import FoundationEssentials
import Synchronization
import VaultCrypto
import VaultErrors

/// The fleet-wide rotation record of one app, as read: who rotates it, since when, until when the lock holds, and the
/// caller's journal (opaque JSON here: this module knows nothing of Entra ID).
public struct FleetRotationRecord: Sendable {
    public enum State: String, Sendable { case idle, rotating }
    public var state: State
    public var owner: String
    public var started: Date
    /// Past this instant a holder that has not renewed the lock is presumed dead: another host may take over.
    public var expires: Date
    public var journal: String
    /// The KV version this record was read at (every write is check-and-set on it).
    public var version: Int
    /// For an idle record: how the last rotation ended ("finished", "rolled back", "abandoned") and when.
    public var outcome: String?
    public var ended: Date?

    public func isLive(at now: Date) -> Bool { state == .rotating && expires > now }
}

/// The fleet lock and journal of one app's rotation: one KV v2 record at `rotation/TENANT/NAME` under the backend's
/// prefix, written only with check-and-set.
///
/// - Taking the lock is create-only: `cas 0` when the record does not exist yet, else `cas V` on the version `V`
///   that was read showing no live rotation. Of several hosts racing, exactly one write succeeds.
/// - The record is never deleted: ending a rotation writes an `idle` version. KV versions therefore only grow, so a
///   stalled holder can never match a later rotation's version (no ABA), and its next write fails.
/// - The holder extends `expires` with every write (and `renew` during long waits). A lock past its expiry may be
///   taken over by another host with check-and-set on the version it read; the old holder's next write then fails.
public final class FleetLock: Sendable {
    let kv: KVClient
    public let name: String
    public let owner: String
    /// The version this process wrote last (nil: it holds nothing).
    private let held = Mutex<Int?>(nil)

    public init(kv: KVClient, name: String, owner: String) {
        self.kv = kv
        self.name = name
        self.owner = owner
    }

    public static func path(tenant: String, app: String) -> String { "rotation/\(tenant.lowercased())/\(app)" }

    /// The record and the new secret it holds (between addPassword and the end), or nil when no rotation ever ran.
    public func read() throws -> (FleetRotationRecord, SecretBytes?)? {
        guard let found = try kv.read(name) else { return nil }
        return try Self.record(from: found, name: name)
    }

    /// The rotation record a KV version holds (refused when `state`, `started` or `expires` is missing or malformed).
    public static func record(from found: KVSecret, name: String) throws -> (FleetRotationRecord, SecretBytes?) {
        let d = found.data
        guard let state = d["state"].flatMap(FleetRotationRecord.State.init(rawValue:)),
              let started = BackendTime.date(d["started"]), let expires = BackendTime.date(d["expires"]) else {
            throw VaultError("backend.rotation_damaged", "the fleet rotation record at \(name) cannot be read (missing or bad state, started or expires)")
        }
        // The lock's end by the engine's clock: the version's created_time plus the holder's ttl, turned into this
        // host's clock through the answer's Date. Neither the writer's clock nor this host's decides alone, so a host
        // whose clock runs fast does not take over a live rotation. Records without a ttl (older vault) keep `expires`.
        var until = expires
        if let ttl = d["ttl"].flatMap({ BackendTime.date($0) })?.timeIntervalSince1970, let created = found.created,
           let local = found.local(created.addingTimeInterval(ttl)) {
            until = local
        }
        let record = FleetRotationRecord(state: state, owner: d["owner"] ?? "?", started: started,
                                         expires: until, journal: d["journal"] ?? "",
                                         version: found.version, outcome: d["outcome"],
                                         ended: BackendTime.date(d["ended"]))
        var secret: SecretBytes?
        if let s = d["new_secret"], !s.isEmpty {
            var raw = Array(s.utf8)
            secret = SecretBytes(consuming: &raw)
        }
        return (record, secret)
    }

    /// Takes the lock for a new rotation: check-and-set on `seen` (nil: the record does not exist). False when another
    /// host wrote first.
    public func acquire(seen: FleetRotationRecord?, journal: String, ttl: Double, now: Date = Date()) throws -> Bool {
        try put(cas: seen?.version ?? 0, state: .rotating, started: now, journal: journal, secret: nil, ttl: ttl, now: now)
    }

    /// Takes over a rotation whose holder's lock expired (or was this process's own): check-and-set on `seen`.
    public func takeOver(_ seen: FleetRotationRecord, secret: SecretBytes?, ttl: Double, now: Date = Date()) throws -> Bool {
        try put(cas: seen.version, state: .rotating, started: seen.started, journal: seen.journal, secret: secret, ttl: ttl, now: now)
    }

    /// Rewrites the journal while holding the lock, extending it. False when this process no longer holds it.
    public func update(journal: String, started: Date, secret: SecretBytes?, ttl: Double, now: Date = Date()) throws -> Bool {
        guard let v = held.withLock({ $0 }) else { return false }
        return try put(cas: v, state: .rotating, started: started, journal: journal, secret: secret, ttl: ttl, now: now)
    }

    /// Ends the rotation: an idle version naming its outcome; the new secret is no longer kept here.
    public func release(journal: String, started: Date, outcome: String, now: Date = Date()) throws -> Bool {
        guard let v = held.withLock({ $0 }) else { return false }
        let ok = try put(cas: v, state: .idle, started: started, journal: journal, secret: nil, ttl: 0, now: now, outcome: outcome)
        if ok { held.withLock { $0 = nil } }
        return ok
    }

    /// Whether this process holds the lock (as far as its last write knows).
    public var holds: Bool { held.withLock { $0 != nil } }

    func put(cas: Int, state: FleetRotationRecord.State, started: Date, journal: String, secret: SecretBytes?, ttl: Double,
             now: Date, outcome: String? = nil) throws -> Bool {
        var data: [(String, String)] = [("state", state.rawValue), ("owner", owner), ("started", Self.seconds(started)),
                                        ("expires", Self.seconds(now.addingTimeInterval(ttl))), ("ttl", Self.seconds(Date(timeIntervalSince1970: max(0, ttl)))),
                                        ("journal", journal)]
        if let outcome { data += [("outcome", outcome), ("ended", Self.seconds(now))] }
        if let secret { data.append(("new_secret", secret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })) }
        if let version = try kv.write(name, data: data, cas: cas) {
            held.withLock { $0 = version }
            return true
        }
        // The check failed. A write whose answer was lost (the node died after applying it, and the client tried
        // again elsewhere) fails its own check-and-set: the record then holds exactly what this process wrote.
        if let found = try kv.read(name), found.version > cas, Self.sameData(found.data, data) {
            held.withLock { $0 = found.version }
            return true
        }
        held.withLock { $0 = nil }
        return false
    }

    /// Whether a record read back is the one `written` (same keys and values; the owner's pid makes it this process's).
    public static func sameData(_ read: [String: String], _ written: [(String, String)]) -> Bool {
        read.count == written.count && written.allSatisfy { read[$0.0] == $0.1 }
    }

    /// Epoch seconds (millisecond precision) as the record's strings hold them.
    public static func seconds(_ d: Date) -> String { String((d.timeIntervalSince1970 * 1000).rounded() / 1000) }
}
