import Foundation
import FleetBackend
import Testing
import VaultCrypto
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
        #expect(record.expires.timeIntervalSinceNow > 55 && record.expires.timeIntervalSinceNow <= 60)
    }

    @Test("a takeover after expiry wins; the old holder's next write fails even once the lock is free again (no ABA)")
    func takeoverAndNoABA() throws {
        let a = FleetLock(kv: try kv(.token(server.rootToken())), name: "rotation/t/aba", owner: "a")
        let b = FleetLock(kv: try kv(.token(server.rootToken())), name: "rotation/t/aba", owner: "b")
        #expect(try a.acquire(seen: nil, journal: "j1", ttl: 0.2, now: Date()))
        usleep(300_000)
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
