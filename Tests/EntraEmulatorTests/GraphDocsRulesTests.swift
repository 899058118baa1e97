import EmulatorDirectory
import EntraEmulator
import Foundation
import Graph
import Testing
import VaultTestSupport

/// The users filter table, quoted in docs/protocols.md, "Graph: $filter and advanced queries" (itself from the Graph
/// docs' table for directory objects). Both the emulator's rules and the client's default-safe table must say exactly
/// this.
let documentedFilterTable = """
| `id` | `eq`, `in` | `ne`, `not` |
| `displayName` | `eq`, `in`, `startswith` | `ne`, `not`, `eq null` |
| `givenName`, `surname`, `mailNickname`, `department`, `usageLocation` | `eq`, `in`, `startswith`, `ge`, `le` | `ne`, `eq null` |
| `mail` | `eq`, `in`, `startswith`, `ge`, `le` | `ne`, `endswith` |
| `userPrincipalName` | `eq`, `in`, `startswith`, `le` | `ne`, `endswith` |
| `jobTitle` | `eq`, `in`, `ge`, `le` | `ne`, `eq null` |
| `city` | `eq`, `in`, `startswith`, `ge` | `ne`, `not`, `eq null` |
| `country` | `eq`, `in`, `startswith`, `ge`, `le` | `ne`, `not`, `eq null` |
| `createdDateTime` | `eq`, `ge`, `le` | `ne`, `not`, `in` |
| `accountEnabled`, `userType` | `eq`, `in` | `ne`, `not` |
| `employeeId` | `eq`, `startswith` | `ne`, `le`, `eq null` |
| `mobilePhone`, `officeLocation`, `preferredLanguage`, `companyName`, `postalCode` | none | every operator |
| `businessPhones` | `businessPhones/any(p:p eq '…')` | `not` |
"""
// (The docs' row "`city`, `country` | … (country also `le`)" is written out as two rows above.)

struct TableRow {
    var properties: [String]
    var basic: Set<String>
    var advanced: Set<String>
}

func parseDocumentedTable() -> [TableRow] {
    let every: Set<String> = ["eq", "ne", "not", "in", "startswith", "endswith", "ge", "le", "null"]
    func ops(_ cell: Substring) -> Set<String> {
        let c = cell.trimmingCharacters(in: .whitespaces)
        if c == "none" { return [] }
        if c == "every operator" { return every }
        if c.hasPrefix("`businessPhones/any") { return ["any"] }
        return Set(c.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " `")) }.map { $0 == "eq null" ? "null" : $0 })
    }
    return documentedFilterTable.split(separator: "\n").map { line in
        let cells = line.split(separator: "|", omittingEmptySubsequences: true)
        let props = cells[0].split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " `")) }
        return TableRow(properties: props, basic: ops(cells[1]), advanced: ops(cells[2]))
    }
}

@Suite("Emulator and client follow the docs' rules", .timeLimit(.minutes(3)))
struct GraphDocsRulesTests {
    @Test("the filter table: the emulator's rules and the client's default-safe set are the docs' table, cell for cell")
    func table() throws {
        let rows = parseDocumentedTable()
        #expect(rows.flatMap(\.properties).count == 22)
        for row in rows {
            for name in row.properties {
                let p = try #require(UserProperty.named(name), "\(name)")
                let rule = FilterRules.rule(p)
                #expect(rule.basic == row.basic, "emulator default operators of \(name)")
                #expect(rule.advanced == row.advanced, "emulator advanced operators of \(name)")
                #expect(UserQueryRules.defaultOperators[name] ?? [] == row.basic, "client default-safe operators of \(name)")
            }
        }
        #expect(Set(UserQueryRules.defaultOperators.keys) == Set(rows.filter { !$0.basic.isEmpty }.flatMap(\.properties)))
    }

    static func clause(_ property: String, _ op: String) -> String {
        switch op {
        case "startswith", "endswith": return "\(op)(\(property),'a')"
        case "in": return "\(property) in ('a')"
        case "null": return "\(property) eq null"
        case "not": return "not(\(property) eq 'a')"
        default: return "\(property) \(op) 'a'"
        }
    }

    @Test("operators the docs leave blank are refused by the emulator, in default and in advanced mode")
    func blanksRefused() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 5))
        defer { emu.stop() }
        let token = try emu.accessToken()
        let textual = ["displayName", "givenName", "mail", "userPrincipalName", "jobTitle", "city", "country", "employeeId"]
        var refusedSeen = 0
        for row in parseDocumentedTable() {
            for name in row.properties where textual.contains(name) {
                for op in ["eq", "ne", "in", "startswith", "endswith", "ge", "le", "null"] where !row.basic.contains(op) && !row.advanced.contains(op) {
                    let q = "?$filter=" + QueryEncoding.encode(Self.clause(name, op)) + "&$count=true"
                    let a = try emu.graph("/v1.0/users" + q, token: token, headers: [("ConsistencyLevel", "eventual")])
                    #expect(a.status == 400, "\(name) \(op) is blank in the docs: \(a.text)")
                    #expect(a.errorCode == "Request_UnsupportedQuery", "\(name) \(op)")
                    refusedSeen += 1
                }
            }
        }
        #expect(refusedSeen == 15, "the blanks of the textual rows")
        // The ones the issue names explicitly.
        for f in ["displayName ge 'a'", "startswith(jobTitle,'a')", "city le 'a'", "employeeId ge 'a'", "employeeId in ('a')"] {
            let a = try emu.graph("/v1.0/users?$filter=" + QueryEncoding.encode(f) + "&$count=true", token: token, headers: [("ConsistencyLevel", "eventual")])
            #expect(a.status == 400, "\(f)")
        }
    }

    @Test("literal types: unquoted DateTimeOffset is valid in default mode; a quoted date or 'true' is the documented type error")
    func literals() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 20))
        defer { emu.stop() }
        let token = try emu.accessToken()
        func get(_ filter: String) throws -> EmulatorHarness.Answer {
            try emu.graph("/v1.0/users?$filter=" + QueryEncoding.encode(filter), token: token)
        }
        let ok = try get("createdDateTime ge 2000-01-01T00:00:00Z")
        #expect(ok.status == 200, "\(ok.text)")
        // Every user with a creation time (the seeded special accounts have none).
        let created = try emu.graph("/v1.0/users?$select=createdDateTime", token: token).json["value"] as? [[String: Any]] ?? []
        #expect((ok.json["value"] as? [Any])?.count == created.filter { $0["createdDateTime"] is String }.count)
        #expect((ok.json["value"] as? [Any])?.isEmpty == false)
        #expect(try get("createdDateTime le 2000-01-01T00:00:00.000+01:00").status == 200)
        let quoted = try get("createdDateTime ge '2021-01-01T00:00:00Z'")
        #expect(quoted.status == 400)
        #expect(quoted.errorMessage == "Invalid filter clause: A binary operator with incompatible types was detected. Found operand types 'Edm.DateTimeOffset' and 'Edm.String' for operator kind 'GreaterThanOrEqual'.")
        let bool = try get("accountEnabled eq 'true'")
        #expect(bool.status == 400)
        #expect(bool.errorMessage?.contains("'Edm.Boolean' and 'Edm.String'") == true)
        #expect(try get("accountEnabled eq true").status == 200)
    }

    @Test("$orderby per property; $expand refused in advanced mode whatever the parameter order")
    func orderAndExpand() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 20))
        defer { emu.stop() }
        let token = try emu.accessToken()
        let eventual = [("ConsistencyLevel", "eventual")]
        #expect(try emu.graph("/v1.0/users?$orderby=displayName%20desc", token: token).status == 200)
        #expect(try emu.graph("/v1.0/users?$orderby=createdDateTime%20desc", token: token).status == 400)
        let created = try emu.graph("/v1.0/users?$orderby=createdDateTime%20desc&$count=true", token: token, headers: eventual)
        #expect(created.status == 200, "\(created.text)")
        #expect(try emu.graph("/v1.0/users?$orderby=jobTitle&$count=true", token: token, headers: eventual).status == 400,
                "the docs name no other sortable property")
        for q in ["$expand=manager&$count=true", "$count=true&$expand=manager"] {
            let a = try emu.graph("/v1.0/users?" + q, token: token, headers: eventual)
            #expect(a.status == 400, "\(q)")
            #expect(a.errorMessage == "$expand is not supported in advanced queries.")
        }
    }

    @Test("nextLink as Graph writes it: re-serialised query, $top folded into a skip token bound to its query")
    func nextLinks() throws {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 30))
        defer { emu.stop() }
        let token = try emu.accessToken()
        let first = try emu.graph("/v1.0/users?$top=5&$filter=" + QueryEncoding.encode("startswith(displayName,'A') or accountEnabled eq true") + "&$select=id,displayName", token: token)
        #expect(first.status == 200)
        let link = try #require(first.json["@odata.nextLink"] as? String)
        #expect(link.contains("$filter=startswith(displayName,'A')+or+accountEnabled+eq+true"), "\(link)")
        #expect(!link.contains("$top="), "\(link)")
        #expect(link.contains("$select=id,displayName"))
        let next = try emu.graph(String(link.dropFirst(emu.base.count)), token: token)
        #expect((next.json["value"] as? [Any])?.count == 5, "the page size came from the skip token")
        // The same token with a changed query: the documented 400.
        let token5 = try #require(link.split(separator: "$skiptoken=").last)
        let changed = try emu.graph("/v1.0/users?$select=id&$skiptoken=\(token5)", token: token)
        #expect(changed.status == 400)
        #expect(changed.errorCode == "Request_BadRequest")
    }

    @Test("a token for an app without application permissions has no roles claim at all")
    func noRolesClaim() throws {
        let app = EmulatorConfig.App(name: "bare", clientID: "44444444-4444-4444-4444-444444444444", roles: [],
                                     passwords: [EmulatorConfig.Password(secret: "bare-secret-value-0123456789abcdefghij")])
        let emu = try EmulatorHarness.start(EmulatorConfig(apps: [app], users: 5))
        defer { emu.stop() }
        let a = try emu.secretToken(clientID: app.clientID, secret: "bare-secret-value-0123456789abcdefghij")
        let jwt = try #require(a.json["access_token"] as? String, "\(a.text)")
        #expect(claims(of: jwt)["roles"] == nil)
    }
}
