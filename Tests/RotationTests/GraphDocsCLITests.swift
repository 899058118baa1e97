import EntraEmulator
import Foundation
import Testing
import VaultTestSupport

/// `vault run users` and `rotate-secret` against an emulator that follows the docs.
@Suite("Graph as documented, through the CLI", .timeLimit(.minutes(5)))
struct GraphDocsCLITests {
    func log(_ emu: EmulatorHarness) throws -> [[String: Any]] {
        (try emu.admin("GET", "/log")["requests"] as? [[String: Any]] ?? []).filter { ($0["path"] as? String) == "/v1.0/users" }
    }

    @Test("every example of the issue works, sent in advanced mode (visible in the emulator's log)", arguments: [
        ["--filter", "companyName eq 'Contoso'"],
        ["--filter", "startswith(mobilePhone,'+1')"],
        ["--filter", "assignedLicenses/$count eq 0"],
        ["--orderby", "createdDateTime desc"],
    ])
    func examples(_ args: [String]) throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 30))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        let r = try v.run(["run", "users", "demo", "--output", "ndjson"] + args)
        #expect(r.status == 0, "\(args): \(r.stderr)")
        let entry = try #require(try log(emu).last)
        #expect(entry["consistency_level"] as? String == "eventual", "\(entry)")
        #expect((entry["query"] as? String)?.contains("$count=true") == true, "\(entry)")
        #expect(entry["status"] as? Int == 200)
    }

    @Test("a default-safe query stays plain; if Graph still says Request_UnsupportedQuery, one advanced retry, noted on stderr")
    func retryOnce() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 30))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        let plain = try v.run(["run", "users", "demo", "--filter", "startswith(displayName,'A')", "--output", "ndjson"])
        #expect(plain.status == 0)
        #expect(try log(emu).last?["consistency_level"] == nil)
        try emu.fault("/v1.0/users", "400unsupported", count: 1)
        let retried = try v.run(["run", "users", "demo", "--filter", "startswith(displayName,'A')", "--output", "ndjson"])
        #expect(retried.status == 0, "\(retried.stderr)")
        #expect(retried.stderr.contains("vault: warning: Graph answered Request_UnsupportedQuery; trying again as an advanced query"))
        #expect(retried.stdout == plain.stdout)
        let last = try log(emu).suffix(2)
        #expect(last.first?["status"] as? Int == 400)
        #expect(last.last?["consistency_level"] as? String == "eventual")
        // Only once: a second refusal is the error.
        try emu.fault("/v1.0/users", "400unsupported", count: 2)
        let twice = try v.run(["run", "users", "demo", "--filter", "startswith(displayName,'A')"])
        #expect(twice.status == 65)
        #expect(twice.stderr.contains("unsupported query"), "\(twice.stderr)")
    }

    @Test("pages with zero results and a nextLink are followed: every user arrives once")
    func emptyPages() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 250))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        _ = try emu.admin("POST", "/policies", ["empty_pages": true])
        let r = try v.run(["run", "users", "demo", "--output", "ndjson", "--top", "100"])
        #expect(r.status == 0, "\(r.stderr)")
        let ids = r.stdout.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["id"] as? String
        }
        #expect(ids.count == 250)
        #expect(Set(ids).count == 250)
        #expect(try log(emu).count == 6, "three empty pages in front of three full ones")
    }

    @Test("a tenant policy capping secret lifetime: a clear error with --expires-in, nothing left behind; a shorter secret works")
    func lifetimePolicy() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 5))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        _ = try emu.admin("POST", "/policies", ["password_lifetime_max_days": 90])
        let before = try (emu.appState()["passwords"] as? [Any])?.count
        let r = try v.run(["rotate-secret", "demo", "--expires-in", "180d"])
        #expect(r.status == 65, "\(r.stderr)")
        #expect(r.stderr.contains("an app-management policy of the tenant caps it"), "\(r.stderr)")
        #expect(r.stderr.contains("vault: hint: ask for a shorter secret with --expires-in"))
        #expect(try (emu.appState()["passwords"] as? [Any])?.count == before)
        #expect(try v.run(["status", "demo"]).status == 0, "no rotation left pending")
        let ok = try v.run(["rotate-secret", "demo", "--expires-in", "60d"])
        #expect(ok.status == 0, "\(ok.stderr)")
    }

    @Test("an app object at its size limit: its own message and hint")
    func objectSize() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 5))
        defer { emu.stop() }
        let v = try EmulatorVault(emulator: emu)
        _ = try emu.admin("POST", "/policies", ["max_passwords": 1])
        let r = try v.run(["rotate-secret", "demo"])
        #expect(r.status == 65, "\(r.stderr)")
        #expect(r.stderr.contains("the app object is at its size limit"), "\(r.stderr)")
        #expect(r.stderr.contains("vault: hint: remove unused secrets or certificates"))
    }
}
