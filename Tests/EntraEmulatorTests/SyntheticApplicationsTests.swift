import EmulatorDirectory
import Foundation
import Testing

/// The seeded tenant of `--applications N` and Graph's rules for /applications and /servicePrincipals.
@Suite struct SyntheticApplicationsTests {
    static let anchor = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func deterministicWithThreeCredentialsPerApplication() throws {
        let a = SyntheticApplications.generate(seed: "s", count: 100, anchor: Self.anchor)
        let b = SyntheticApplications.generate(seed: "s", count: 100, anchor: Self.anchor)
        #expect(a.applications.map(\.properties.description) == b.applications.map(\.properties.description))
        func count(_ json: String?) throws -> Int {
            try (JSONSerialization.jsonObject(with: Data((json ?? "[]").utf8)) as? [Any]).map(\.count) ?? 0
        }
        var total = 0
        for o in a.applications + a.servicePrincipals {
            total += try count(o.value("passwordCredentials")) + count(o.value("keyCredentials")) + count(o.federatedJSON)
        }
        #expect(total == 300)
        #expect(a.applications[4].displayName == "seed-app-00004-vault-leftover")
        #expect(Set(a.applications.map(\.id)).count == 100 && a.applications[0].id != a.servicePrincipals[0].id)
        #expect(SyntheticApplications.generate(seed: "t", count: 1, anchor: Self.anchor).applications[0].id != a.applications[0].id)
    }

    @Test func vaultLeftoverNamesCarryTheKeyPrefix() throws {
        let app = SyntheticApplications.generate(seed: "s", count: 5, anchor: Self.anchor).applications[4]
        let list = try #require(JSONSerialization.jsonObject(with: Data(app.value("passwordCredentials")!.utf8)) as? [[String: Any]])
        let first = try #require(list.first)
        let name = try #require(first["displayName"] as? String)
        let key = try #require(first["keyId"] as? String)
        #expect(name == "vault 2026-12-26 \(key.prefix(8))")
        #expect((list[1]["displayName"] as? String) == "nightly (vault \(((list[1]["keyId"] as? String) ?? "").prefix(8)))")
    }

    @Test(arguments: [["$top": "1000"], ["$top": "0"], ["$top": "x"], ["$skip": "1"], ["$select": "id,nope"], ["$expand": "owners"],
                      ["$count": "maybe"]])
    func refusedQueries(params: [String: String]) {
        #expect(throws: GraphError.self) {
            try DirectoryObjectsQuery.parse(params.map { ($0.key, $0.value) }, collection: .applications, eventual: false)
        }
    }

    @Test func countOnlyWithEventualAndExpandNotInAdvancedMode() throws {
        let plain = try DirectoryObjectsQuery.parse([("$count", "true")], collection: .servicePrincipals, eventual: false)
        #expect(!plain.count && plain.top == 100)
        let eventual = try DirectoryObjectsQuery.parse([("$count", "true"), ("$top", "999")], collection: .servicePrincipals, eventual: true)
        #expect(eventual.count && eventual.top == 999)
        #expect(throws: GraphError.self) {
            try DirectoryObjectsQuery.parse([("$expand", "federatedIdentityCredentials"), ("$count", "true")], collection: .applications, eventual: true)
        }
        #expect(throws: GraphError.self) {
            try DirectoryObjectsQuery.parse([("$expand", "federatedIdentityCredentials")], collection: .servicePrincipals, eventual: false)
        }
    }

    @Test func skipTokensAreBoundToTheirQuery() throws {
        let q = try DirectoryObjectsQuery.parse([("$select", "id")], collection: .applications, eventual: false)
        let token = SkipToken.encode(100, top: 5, query: q.binding)
        let next = try DirectoryObjectsQuery.parse([("$select", "id"), ("$skiptoken", token)], collection: .applications, eventual: false)
        #expect(next.offset == 100 && next.top == 5)
        #expect(throws: GraphError.self) {
            try DirectoryObjectsQuery.parse([("$select", "id,displayName"), ("$skiptoken", token)], collection: .applications, eventual: false)
        }
        #expect(throws: GraphError.self) {
            try DirectoryObjectsQuery.parse([("$select", "id"), ("$skiptoken", token)], collection: .servicePrincipals, eventual: false)
        }
    }
}
