import EntraEmulator
import Foundation
import Graph
import Testing
import VaultTestSupport

@Suite("vault run users against the emulator", .timeLimit(.minutes(5)))
struct RunUsersTests {
    let emu: EmulatorHarness
    let v: EmulatorVault
    init() throws {
        emu = try EmulatorHarness.start(EmulatorConfig(users: 2500, seed: "graph-cli"))
        v = try EmulatorVault(emulator: emu)
    }

    func ndjson(_ r: RunResult) throws -> [[String: Any]] {
        try r.stdout.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }

    /// What the emulator itself answers for a query, every page (the reference answer).
    func reference(_ query: String, eventual: Bool = false) throws -> [[String: Any]] {
        let token = try #require(try emu.secretToken().json["access_token"] as? String)
        var next: String? = "/v1.0/users?\(query)"
        var out: [[String: Any]] = []
        while let path = next {
            let r = try emu.send("GET", path, headers: [("Authorization", "Bearer \(token)")] + (eventual ? [("ConsistencyLevel", "eventual")] : []))
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])
            out += json["value"] as? [[String: Any]] ?? []
            next = (json["@odata.nextLink"] as? String).map { String($0.dropFirst(emu.base.count)) }
        }
        return out
    }

    @Test("2,500 users at $top=999: 3 requests, every user exactly once, in order")
    func allPages() throws {
        let r = try v.run(["run", "users", "demo", "--top", "999", "--output", "ndjson"])
        #expect(r.status == 0, "\(r.stderr)")
        let users = try ndjson(r)
        #expect(users.count == 2500)
        #expect(Set(users.compactMap { $0["id"] as? String }).count == 2500)
        #expect(users.compactMap { $0["id"] as? String } == (try reference("$top=999&$select=id")).compactMap { $0["id"] as? String })
        #expect(try emu.graphRequests("/v1.0/users") == 3 + 3, "vault's 3 pages (+3 for the reference listing)")
        #expect(r.stderr.isEmpty, "nothing on stderr when it is not a terminal")
    }

    @Test("without --top, the largest page Graph allows: 2,500 users in 3 requests (Graph's default page of 100 made 25)")
    func defaultPage() throws {
        let r = try v.run(["run", "users", "demo", "--output", "ndjson"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try ndjson(r).count == 2500)
        #expect(try emu.graphRequests("/v1.0/users") == 3)
    }

    @Test("--max stops early")
    func max() throws {
        let r = try v.run(["run", "users", "demo", "--max", "1500", "--top", "999", "--output", "ndjson"])
        #expect(try ndjson(r).count == 1500)
        #expect(try emu.graphRequests("/v1.0/users") == 2)
        let small = try v.run(["run", "users", "demo", "--max", "7", "--output", "ndjson"])
        #expect(try ndjson(small).count == 7)
        #expect(try emu.graphRequests("/v1.0/users") == 3, "--max under a page asks for $top=max")
    }

    @Test("$select, $filter, $search and $count give the emulator's reference answers")
    func queries() throws {
        let select = try ndjson(try v.run(["run", "users", "demo", "--select", "displayName,mail", "--output", "ndjson"]))
        #expect(select.count == 2500)
        #expect(select.allSatisfy { Set($0.keys) == ["displayName", "mail"] })

        let filter = try ndjson(try v.run(["run", "users", "demo", "--filter", "startswith(displayName,'Ad')", "--select", "id", "--output", "ndjson"]))
        #expect(!filter.isEmpty)
        #expect(filter.compactMap { $0["id"] as? String } == (try reference("$filter=startswith(displayName,'Ad')&$select=id")).compactMap { $0["id"] as? String })

        // An advanced filter: vault adds ConsistencyLevel and $count=true itself (the emulator refuses it otherwise).
        let ne = try v.run(["run", "users", "demo", "--filter", "userType ne 'Member'", "--select", "id", "--output", "ndjson"])
        #expect(ne.status == 0, "\(ne.stderr)")
        #expect(try ndjson(ne).compactMap { $0["id"] as? String }
                == (try reference("$filter=userType%20ne%20'Member'&$select=id&$count=true", eventual: true)).compactMap { $0["id"] as? String })

        let search = try v.run(["run", "users", "demo", "--search", "\"displayName:ada\"", "--select", "displayName", "--output", "ndjson"])
        #expect(search.status == 0, "\(search.stderr)")
        let names = try ndjson(search).compactMap { $0["displayName"] as? String }
        #expect(!names.isEmpty)
        #expect(names == (try reference("$search=%22displayName:ada%22&$select=displayName", eventual: true)).compactMap { $0["displayName"] as? String })

        let count = try v.run(["run", "users", "demo", "--count", "--max", "1", "--output", "ndjson"])
        #expect(count.stderr.contains("2500 users in total"))
    }

    @Test("output formats parse back: json, ndjson, csv")
    func formats() throws {
        let json = try v.run(["run", "users", "demo", "--max", "120", "--output", "json"])
        let array = try #require(try JSONSerialization.jsonObject(with: json.stdoutData) as? [[String: Any]])
        #expect(array.count == 120)
        let nd = try ndjson(try v.run(["run", "users", "demo", "--max", "120", "--output", "ndjson"]))
        #expect(nd.map { $0["id"] as? String } == array.map { $0["id"] as? String })

        let csv = try v.run(["run", "users", "demo", "--max", "120", "--select", "displayName,businessPhones,userPrincipalName", "--output", "csv"])
        let rows = CSV.parse(csv.stdout)
        #expect(rows.first == ["displayName", "businessPhones", "userPrincipalName"])
        #expect(rows.count == 121)
        let reference = try reference("$top=120&$select=displayName,businessPhones,userPrincipalName").prefix(120)
        for (row, user) in zip(rows.dropFirst(), reference) {
            #expect(row[0] == user["displayName"] as? String)
            // A cell starting with + (a phone number) is neutralised against spreadsheet formula injection.
            let phones = (user["businessPhones"] as? [String] ?? []).joined(separator: "; ")
            #expect(row[1] == ("=+-@".contains(phones.first ?? " ") ? "'" + phones : phones))
            #expect(row[2] == user["userPrincipalName"] as? String)
        }
        let table = try v.run(["run", "users", "demo", "--max", "5", "--output", "table"])
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.count == 6)
        #expect(lines[0].hasPrefix("displayName"))
        #expect(lines[1].hasPrefix("MOD Administrator"))
    }

    @Test("429 with Retry-After, then success and complete output")
    func throttled() throws {
        try emu.fault("/v1.0/users", "429", count: 2, retryAfter: "0.3")
        let r = try v.run(["run", "users", "demo", "--top", "999", "--output", "ndjson"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try ndjson(r).count == 2500)
    }

    @Test("503 until the retry cap: a clear error and a non-zero exit")
    func unavailable() throws {
        try emu.fault("/v1.0/users", "503", count: 20, retryAfter: "0.2")
        let r = try v.run(["run", "users", "demo", "--output", "ndjson"])
        #expect(r.status == 75)
        #expect(r.stderr.contains("vault: error: Graph kept answering 503 after 4 attempts for GET \(emu.base)/v1.0/users"), "\(r.stderr)")
        #expect(r.stderr.contains("vault: hint: Graph is throttling or unavailable"))
    }

    @Test("the token expires mid-paging: one refresh, complete output")
    func expiredMidRun() throws {
        #expect(try v.run(["token", "demo"]).status == 0)
        try emu.admin("POST", "/expire-tokens", ["after_requests": 1])
        let r = try v.run(["run", "users", "demo", "--top", "999", "--output", "ndjson"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(Set(try ndjson(r).compactMap { $0["id"] as? String }).count == 2500)
        #expect(try emu.tokenRequests() == 2, "one token before, one refresh after the 401")
    }

    @Test("403: the permission hint and the request-id")
    func forbidden() throws {
        try emu.admin("POST", "/apps/\(emu.app.clientID)/roles", ["roles": ["Application.ReadWrite.OwnedBy"]])
        let r = try v.run(["run", "users", "demo"])
        #expect(r.status == 77)
        #expect(r.stderr.contains("vault: error: Graph denied GET \(emu.base)/v1.0/users: 403 Authorization_RequestDenied: Insufficient privileges to complete the operation. (request-id "))
        #expect(r.stderr.contains("vault: hint: grant the app the application permission User.Read.All"))
    }

    @Test("a nextLink to another host is refused: the token is never sent elsewhere")
    func foreignNextLink() throws {
        try emu.admin("POST", "/next-link-base", ["base": "https://graph.evil.example"])
        let r = try v.run(["run", "users", "demo", "--output", "ndjson"])
        #expect(r.status == 65)
        #expect(r.stderr.contains("vault: error: refusing to follow a link to https://graph.evil.example"))
        #expect(try ndjson(r).count == 999, "the first page (999 users: the default page is the largest Graph allows) was written before the refusal")
    }

    @Test("run user, run get with --query and --all-pages, run post/delete")
    func rest() throws {
        let user = try v.run(["run", "user", "demo", "$svc-backup@contoso.onmicrosoft.com"])
        #expect(user.status == 0, "\(user.stderr)")
        #expect(user.stdout.contains("\"displayName\":\"Backup Service\""))
        let count = try v.run(["run", "get", "demo", "/users/$count", "--header", "ConsistencyLevel: eventual"])
        #expect(count.stdout == "2500\n")
        let all = try v.run(["run", "get", "demo", "/users", "--query", "$select=id", "--query", "$top=999", "--all-pages"])
        #expect((try JSONSerialization.jsonObject(with: all.stdoutData) as? [Any])?.count == 2500)
        let added = try v.run(["run", "post", "demo", "/applications(appId='\(emu.app.clientID)')/addPassword", "--body", "-"],
                              stdin: #"{"passwordCredential":{"displayName":"from-run-post"}}"#)
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout.contains("\"secretText\":\"[REDACTED]\""), "vault never prints a secret")
        #expect(added.stderr.contains("vault: warning: a secret in Graph's answer was replaced by [REDACTED]"))
        let keyID = try #require((try JSONSerialization.jsonObject(with: added.stdoutData) as? [String: Any])?["keyId"] as? String)
        let bodyFile = v.dir.write("remove.json", Data(#"{"keyId":"\#(keyID)"}"#.utf8))
        let removed = try v.run(["run", "post", "demo", "/applications(appId='\(emu.app.clientID)')/removePassword", "--body", bodyFile])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(removed.stdout.isEmpty)
        let missing = try v.run(["run", "get", "demo", "/users/nobody@contoso.onmicrosoft.com"])
        #expect(missing.status == 65)
        #expect(missing.stderr.contains("Request_ResourceNotFound"))
    }
}

/// RFC 4180 parsing for the tests.
enum CSV {
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = ""
        var quoted = false
        var it = Array(text).makeIterator()
        var pending: Character? = nil
        while let c = pending ?? it.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let n = it.next() { if n == "\"" { field.append("\"") } else { quoted = false; pending = n } } else { quoted = false }
                } else { field.append(c) }
                continue
            }
            switch c {
            case "\"": quoted = true
            case ",": row.append(field); field = ""
            case "\r\n", "\n": row.append(field); rows.append(row); row = []; field = ""
            case "\r": break
            default: field.append(c)
            }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }
}
