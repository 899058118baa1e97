import Foundation
import FleetBackend
import Testing
import VaultCrypto
import VaultErrors
import VaultHTTP

@Suite("The fleet rotation lock and the login token, against a real OpenBao dev server", .serialized)
struct FleetLockTests {
    let server: DevServer
    init() throws { server = try DevServer() }

    func kv(_ auth: BackendAuth) throws -> KVClient {
        KVClient(config: BackendConfig(addresses: [server.address]), transport: try CurlTransport(options: HTTPOptions(), logger: nil), auth: auth)
    }

    @Test("two hosts racing for a free lock: exactly one takes it; the record names it and holds the journal")
    func race() throws {
        let a = FleetLock(kv: try kv(.token(server.rootToken())), name: "rotation/t/app", owner: "host-a pid 1")
        let b = FleetLock(kv: try kv(.token(server.rootToken())), name: "rotation/t/app", owner: "host-b pid 2")
        #expect(try a.read() == nil)
        #expect(try a.acquire(seen: nil, journal: #"{"step":"adding"}"#, ttl: 60))
        #expect(try b.acquire(seen: nil, journal: "{}", ttl: 60) == false, "create-only: the second writer loses")
        #expect(!b.holds)
        let (record, secret) = try #require(try b.read())
        #expect(record.state == .rotating && record.owner == "host-a pid 1" && record.journal == #"{"step":"adding"}"#)
        #expect(record.isLive(at: Date()) && secret == nil)
        // Judged by the engine's clock, whose Date has whole seconds: up to 1 s later than the writer's own end, never earlier.
        #expect(record.expires.timeIntervalSinceNow > 55 && record.expires.timeIntervalSinceNow <= 61)
    }

    @Test("a takeover after expiry wins; the old holder's next write fails even once the lock is free again (no ABA)")
    func takeoverAndNoABA() throws {
        let a = FleetLock(kv: try kv(.token(server.rootToken())), name: "rotation/t/aba", owner: "a")
        let b = FleetLock(kv: try kv(.token(server.rootToken())), name: "rotation/t/aba", owner: "b")
        #expect(try a.acquire(seen: nil, journal: "j1", ttl: 0.2, now: Date()))
        // Expiry is judged by the engine's clock, whose Date header has whole seconds: up to 1 s late, never early.
        usleep(1_300_000)
        let (seen, _) = try #require(try b.read())
        #expect(!seen.isLive(at: Date()), "the lock expired")
        #expect(try b.takeOver(seen, secret: secret("new-secret"), ttl: 60))
        #expect(try b.read()?.1.map { $0.prefixString(3) } == "new", "the journal keeps the new secret for any host")
        #expect(try b.release(journal: "j1", started: seen.started, outcome: "finished"))
        let (idle, kept) = try #require(try a.read())
        #expect(idle.state == .idle && idle.outcome == "finished" && kept == nil && !idle.isLive(at: Date()))
        // A third rotation starts on the idle record: versions only grow, so the stalled first holder cannot match.
        #expect(try b.acquire(seen: idle, journal: "j2", ttl: 60))
        #expect(try a.update(journal: "j1-late", started: Date(), secret: nil, ttl: 60) == false)
        #expect(try a.read()?.0.journal == "j2")
    }

    @Test("an unreadable record is an error, never a free lock")
    func damaged() throws {
        let root = try kv(.token(server.rootToken()))
        #expect(try root.write("rotation/t/bad", data: [("state", "rotating"), ("owner", "x")], cas: 0) == 1)
        #expect(throws: VaultError.self) { _ = try FleetLock(kv: root, name: "rotation/t/bad", owner: "y").read() }
    }

    @Test("the AppRole token is renewed before it expires, and replaced by a new login when the engine refuses it")
    func renewalAndRelogin() throws {
        let (role, sid) = try server.appRole("short", path: "secret/data/entra/*", ttl: "6s")
        let client = try kv(.appRole(roleID: role, secretID: secret(sid)))
        #expect(try client.write("renew/app", data: [("k", "v")], cas: 0) == 1)
        let first = try client.check()
        #expect(first.ttl > 0 && first.ttl <= 6)
        sleep(3) // half the 6 s lease is left (renewal starts under max(10 s, a third)): the next use renews it
        #expect(try client.read("renew/app")?.data == ["k": "v"])
        let renewed = try client.check()
        #expect(renewed.accessor == first.accessor, "the same token, renewed (not a new login)")
        #expect(renewed.ttl >= 4, "renew-self gave the token a fresh lease (ttl \(renewed.ttl) s)")
        // Revoke the client's token behind its back: its next request logs in again, once, and works.
        _ = try server.admin("POST", "/v1/auth/token/revoke-accessor", #"{"accessor":"\#(first.accessor)"}"#)
        #expect(try client.read("renew/app")?.data == ["k": "v"], "a refused token is replaced by a new login")
        #expect(try client.check().accessor != first.accessor)
    }
}

@Suite("backend times")
struct BackendTimeTests {
    @Test("numbers a backend record may hold: only finite Unix seconds up to year 9999 become dates")
    func bounded() {
        #expect(BackendTime.date("1796591614")?.timeIntervalSince1970 == 1_796_591_614)
        #expect(BackendTime.date("1796591614.25")?.timeIntervalSince1970 == 1_796_591_614.25)
        // Before: Double("1e300") became a Date that `vault status` turned into an Int, and trapped on every host.
        for hostile in ["1e300", "nan", "inf", "-inf", "-1", "253402300800", "", "0x10", String(repeating: "9", count: 400), nil] {
            #expect(BackendTime.date(hostile) == nil, "\(hostile ?? "nil")")
        }
    }
}

@Suite("The engine's clock: created_time and Date")
struct EngineClockTests {
    @Test("KV v2 created_time and HTTP dates parse exactly; anything else is nil")
    func parse() {
        #expect(BackendTime.rfc3339("2026-12-06T22:08:26Z")?.timeIntervalSince1970 == 1_796_594_906)
        #expect(BackendTime.rfc3339("2026-12-06T22:08:26.5Z")?.timeIntervalSince1970 == 1_796_594_906.5)
        #expect(abs((BackendTime.rfc3339("2026-12-06T22:08:26.123456789Z")?.timeIntervalSince1970 ?? 0) - 1_796_594_906.123456789) < 1e-6)
        #expect(BackendTime.httpDate("Sun, 06 Dec 2026 22:08:26 GMT")?.timeIntervalSince1970 == 1_796_594_906)
        for bad in ["", "2026-12-06 22:08:26Z", "2026-12-06T22:08:26+01:00", "2026-13-06T22:08:26Z", "1e300", "2026-12-06T22:08:26.Z",
                    "0000-12-06T22:08:26Z", "2026-12-06T22:08:26." + String(repeating: "9", count: 30) + "Z"] {
            #expect(BackendTime.rfc3339(bad) == nil, "\(bad)")
        }
        for bad in ["", "Sun, 06 Foo 2026 22:08:26 GMT", "Sun, 06 Dec 2026 22:08:26 UTC", "Sun, 06 Dec 99999 22:08:26 GMT"] {
            #expect(BackendTime.httpDate(bad) == nil, "\(bad)")
        }
    }

    @Test("an engine time is moved onto this host's clock by the skew the answer showed")
    func local() {
        let engineNow = Date(timeIntervalSince1970: 1_000_000)
        let readAt = Date(timeIntervalSince1970: 1_000_900)  // this host runs 15 minutes fast
        let read = KVSecret(version: 3, data: [:], created: engineNow.addingTimeInterval(-10), engineNow: engineNow, readAt: readAt)
        // A lock written 10 s ago (engine) with 600 s to live has 590 s left, on this host's clock too.
        #expect(read.local(read.created!.addingTimeInterval(600)) == readAt.addingTimeInterval(590))
        #expect(KVSecret(version: 1, data: [:]).local(engineNow) == nil)
    }
}

@Suite("The lease a holder acts on: how long its fleet lock certainly holds, by its own boot clock")
struct LockLeaseTests {
    @Test("a write may leave while half the ttl remains since the last lock write was sent, not after")
    func halfTheTTL() {
        let lease = LockLease(sent: 1_000, ttl: 4)
        #expect(lease.vouches(at: 1_000))
        #expect(lease.vouches(at: 1_001.99))
        #expect(!lease.vouches(at: 1_002.01), "a holder woken past half its ttl renews first")
        #expect(!lease.vouches(at: 1_010), "a holder stopped past its whole ttl")
        #expect(lease.remaining(at: 1_003) == 1)
    }

    @Test("the boot clock counts forward and in seconds")
    func bootClock() {
        let a = LockLease.now()
        usleep(50_000)
        let b = LockLease.now()
        #expect(b - a >= 0.05 && b - a < 5)
    }
}
