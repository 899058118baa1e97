import EntraEmulator
import Foundation
import Testing
import VaultTestSupport

@Suite("Emulator: Graph users", .timeLimit(.minutes(3)))
struct GraphUsersTests {
    let emu: EmulatorHarness
    let token: String
    init() throws {
        emu = try EmulatorHarness.start(EmulatorConfig(users: 250, seed: "graph-tests"))
        token = try emu.accessToken()
    }

    func users(_ query: String, eventual: Bool = false) throws -> EmulatorHarness.Answer {
        try emu.graph("/v1.0/users\(query)", token: token, headers: eventual ? [("ConsistencyLevel", "eventual")] : [])
    }

    @Test("paging: default 100, absolute nextLink keeping the query, every user once, in order")
    func paging() throws {
        var next: String? = "\(emu.base)/v1.0/users?$select=id,displayName"
        var ids: [String] = []
        var pages = 0
        while let url = next {
            let a = try emu.graph(String(url.dropFirst(emu.base.count)), token: token)
            #expect(a.status == 200)
            let page = try #require(a.json["value"] as? [[String: Any]])
            ids += page.compactMap { $0["id"] as? String }
            next = a.json["@odata.nextLink"] as? String
            if let n = next {
                #expect(n.hasPrefix("\(emu.base)/v1.0/users?$select=id,displayName&$skiptoken="))
                #expect(page.count == 100)
            }
            pages += 1
        }
        #expect(pages == 3)
        #expect(ids.count == 250)
        #expect(Set(ids).count == 250)
        let all = try users("?$top=999&$select=id").json["value"] as? [[String: Any]] ?? []
        #expect(all.compactMap { $0["id"] as? String } == ids, "pages follow creation order")
    }

    @Test("$top outside 1…999 is rejected with Graph's message", arguments: ["0", "1000", "-1", "abc"])
    func topRange(_ top: String) throws {
        let a = try users("?$top=\(top)")
        #expect(a.status == 400)
        #expect(a.errorCode == "Request_UnsupportedQuery")
        #expect(a.errorMessage == "Invalid page size specified: '\(top)'. Must be between 1 and 999 inclusive.")
    }

    @Test("the 11 default properties in documented order; nulls and [] for missing values; headers")
    func defaults() throws {
        let a = try users("?$top=3")
        #expect(a.header("Content-Type") == "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
        #expect(a.header("OData-Version") == "4.0")
        #expect(a.header("request-id") != nil)
        #expect(a.header("client-request-id") == a.header("request-id"))
        #expect(a.header("Content-Encoding") == "gzip", "libcurl asked for gzip")
        #expect(a.json["@odata.context"] as? String == "\(emu.base)/v1.0/$metadata#users")
        let text = a.text
        let first = try #require(text.range(of: #"\{"businessPhones"[^}]*\}"#, options: .regularExpression)).lowerBound
        let keys = ["businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
                    "preferredLanguage", "surname", "userPrincipalName", "id"]
        var cursor = first
        for k in keys {
            let r = try #require(text.range(of: "\"\(k)\":", range: cursor..<text.endIndex))
            cursor = r.upperBound
        }
        let value = try #require(a.json["value"] as? [[String: Any]])
        #expect(value.allSatisfy { Set($0.keys) == Set(keys) })
        #expect(value[0]["displayName"] as? String == "MOD Administrator")
        #expect(value[0]["mail"] is NSNull)
        #expect(value[1]["displayName"] as? String == "Conf Room Adams")
        #expect(value[1]["businessPhones"] as? [String] == [])
        #expect(value[2]["userPrincipalName"] as? String == "$svc-backup@contoso.onmicrosoft.com")
    }

    @Test("$select returns exactly the selected keys; the context lists them; errors for unknown and single-user-only")
    func select() throws {
        let a = try users("?$select=displayName,userType,accountEnabled&$top=5")
        #expect(a.json["@odata.context"] as? String == "\(emu.base)/v1.0/$metadata#users(displayName,userType,accountEnabled)")
        let value = try #require(a.json["value"] as? [[String: Any]])
        #expect(value.allSatisfy { Set($0.keys) == ["displayName", "userType", "accountEnabled"] })
        #expect(value[3]["userType"] as? String == "Guest")
        let unknown = try users("?$select=foo")
        #expect(unknown.status == 400)
        #expect(unknown.errorMessage == "Could not find a property named 'foo' on type 'microsoft.graph.user'.")
        #expect(try users("?$select=skills").status == 501)
    }

    @Test("$filter: default operators work, advanced ones need ConsistencyLevel and $count")
    func filter() throws {
        let sw = try users("?$filter=startswith(displayName,'A')&$select=displayName&$top=999")
        let names = (sw.json["value"] as? [[String: Any]] ?? []).compactMap { $0["displayName"] as? String }
        #expect(!names.isEmpty)
        #expect(names.allSatisfy { $0.lowercased().hasPrefix("a") })
        let eq = try users("?$filter=userPrincipalName%20eq%20'admin@contoso.onmicrosoft.com'")
        #expect((eq.json["value"] as? [[String: Any]])?.count == 1)
        let inList = try users("?$filter=userType%20in%20('Guest')&$select=userType,userPrincipalName&$top=999")
        let guests = inList.json["value"] as? [[String: Any]] ?? []
        #expect(!guests.isEmpty && guests.allSatisfy { ($0["userPrincipalName"] as? String)?.contains("#EXT#@") == true })
        let range = try users("?$filter=surname%20ge%20'S'%20and%20surname%20le%20'T'&$select=surname&$top=999")
        #expect((range.json["value"] as? [[String: Any]] ?? []).allSatisfy { ($0["surname"] as? String ?? "").uppercased().hasPrefix("S") })

        let ne = try users("?$filter=userType%20ne%20'Member'")
        #expect(ne.status == 400)
        #expect(ne.errorCode == "Request_UnsupportedQuery")
        #expect(ne.errorMessage?.hasPrefix("Operator 'ne' is not supported because the 'ConsistencyLevel:eventual' header is missing.") == true)
        let advanced = try users("?$filter=userType%20ne%20'Member'&$count=true", eventual: true)
        #expect(advanced.status == 200)
        #expect(advanced.json["@odata.count"] as? Int == guests.count)
        let ends = try users("?$filter=endswith(mail,'@adatum.com')&$count=true", eventual: true)
        #expect(ends.status == 200)
        let notIndexed = try users("?$filter=id%20ge%20'a'")
        #expect(notIndexed.errorMessage == "The request uses a filter property that is not indexed")
    }

    @Test("$count=true: @odata.count on the first page only with the header, ignored without it")
    func count() throws {
        let first = try users("?$count=true&$top=100", eventual: true)
        #expect(first.json["@odata.count"] as? Int == 250)
        let nextPath = String((first.json["@odata.nextLink"] as! String).dropFirst(emu.base.count))
        let second = try emu.graph(nextPath, token: token, headers: [("ConsistencyLevel", "eventual")])
        #expect(second.json["@odata.count"] == nil)
        let ignored = try users("?$count=true")
        #expect(ignored.status == 200)
        #expect(ignored.json["@odata.count"] == nil)
    }

    @Test("$search needs the header; it matches tokenised displayName prefixes")
    func search() throws {
        let refused = try users("?$search=%22displayName:ad%22")
        #expect(refused.status == 400)
        #expect(refused.errorMessage == "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'")
        let a = try users("?$search=%22displayName:adm%22&$select=displayName", eventual: true)
        let names = (a.json["value"] as? [[String: Any]] ?? []).compactMap { $0["displayName"] as? String }
        #expect(names.contains("MOD Administrator"))
        #expect(names.allSatisfy { $0.split(separator: " ").contains { $0.lowercased().hasPrefix("adm") } })
    }

    @Test("$orderby displayName desc; with $filter it needs advanced mode")
    func orderby() throws {
        let a = try users("?$orderby=displayName%20desc&$select=displayName&$top=999")
        let names = (a.json["value"] as? [[String: Any]] ?? []).compactMap { $0["displayName"] as? String }
        #expect(names == names.sorted { $0.lowercased() > $1.lowercased() })
        let refused = try users("?$orderby=displayName&$filter=startswith(displayName,'A')")
        #expect(refused.errorMessage == "Sorting not supported for current query.")
    }

    @Test("single users by id, UPN, ('$…') form and escaped guest UPN; 404 for the unknown")
    func single() throws {
        let all = try users("?$top=10").json["value"] as? [[String: Any]] ?? []
        let id = try #require(all[4]["id"] as? String)
        let byID = try emu.graph("/v1.0/users/\(id)", token: token)
        #expect(byID.json["@odata.context"] as? String == "\(emu.base)/v1.0/$metadata#users/$entity")
        #expect(byID.json["id"] as? String == id)
        let svc = try emu.graph("/v1.0/users('$svc-backup@contoso.onmicrosoft.com')", token: token)
        #expect(svc.json["displayName"] as? String == "Backup Service")
        let guestUPN = try #require(all[3]["userPrincipalName"] as? String)
        let guest = try emu.graph("/v1.0/users/" + guestUPN.replacingOccurrences(of: "#", with: "%23"), token: token)
        #expect(guest.json["id"] as? String == all[3]["id"] as? String)
        let selected = try emu.graph("/v1.0/users/\(id)?$select=displayName,mail", token: token)
        #expect(selected.json["@odata.context"] as? String == "\(emu.base)/v1.0/$metadata#users(displayName,mail)/$entity")
        let missing = try emu.graph("/v1.0/users/nobody@contoso.onmicrosoft.com", token: token)
        #expect(missing.status == 404)
        #expect(missing.errorCode == "Request_ResourceNotFound")
        #expect(missing.errorMessage == "Resource 'nobody@contoso.onmicrosoft.com' does not exist or one of its queried reference-property objects are not present.")
    }

    @Test("/users/$count: text/plain with the header, 400 without")
    func countEndpoint() throws {
        let a = try emu.graph("/v1.0/users/$count", token: token, headers: [("ConsistencyLevel", "eventual")])
        #expect(a.status == 200)
        #expect(a.text == "250")
        #expect(a.header("Content-Type")?.hasPrefix("text/plain") == true)
        let b = try emu.graph("/v1.0/users/$count", token: token)
        #expect(b.status == 400)
        #expect(b.errorCode == "Request_BadRequest")
        #expect(b.errorMessage == "$count is not currently supported.")
    }

    @Test("$skip is not supported")
    func skip() throws {
        #expect(try users("?$skip=10").errorMessage == "'$skip' is not supported by the service.")
    }
}

@Suite("Emulator: Graph token checks and errors", .timeLimit(.minutes(3)))
struct GraphAuthTests {
    let emu: EmulatorHarness
    init() throws { emu = try EmulatorHarness.start(EmulatorConfig(users: 10)) }

    func minted(_ body: [String: Any]) throws -> String {
        var b = body
        b["client_id"] = emu.app.clientID
        return try emu.admin("POST", "/tokens", b)["access_token"] as! String
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var label: String
        var message: String
        var testDescription: String { label }
    }

    @Test("401 InvalidAuthenticationToken with the real messages and WWW-Authenticate", arguments: [
        Case(label: "missing", message: "Access token is empty."),
        Case(label: "malformed", message: "IDX14100: JWT is not well formed"),
        Case(label: "expired", message: "Lifetime validation failed, the token is expired."),
        Case(label: "wrong audience", message: "Access token validation failure. Invalid audience."),
        Case(label: "wrong tenant", message: "Access token validation failure. Invalid issuer."),
        Case(label: "forged signature", message: "Access token validation failure. Invalid signature."),
    ])
    func unauthorized(_ c: Case) throws {
        var token: String?
        switch c.label {
        case "missing": token = nil
        case "malformed": token = "not-a-jwt"
        case "expired": token = try minted(["lifetime": -60])
        case "wrong audience": token = try minted(["aud": "https://management.azure.com"])
        case "wrong tenant": token = try minted(["tid": "99999999-9999-9999-9999-999999999999"])
        default:
            let good = try emu.accessToken().split(separator: ".")
            token = "\(good[0]).\(good[1]).\(String(good[2].reversed()))"
        }
        let a = try emu.graph("/v1.0/users", token: token, headers: [("client-request-id", "abcdef00-0000-0000-0000-000000000042")])
        #expect(a.status == 401)
        #expect(a.errorCode == "InvalidAuthenticationToken")
        #expect(a.errorMessage?.hasPrefix(c.message) == true, "\(a.text)")
        #expect(a.header("WWW-Authenticate") == "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"")
        let inner = try #require((a.json["error"] as? [String: Any])?["innerError"] as? [String: Any])
        #expect(inner["client-request-id"] as? String == "abcdef00-0000-0000-0000-000000000042")
        #expect(inner["request-id"] as? String == a.header("request-id"))
        #expect((inner["date"] as? String)?.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$"#, options: .regularExpression) != nil)
    }

    @Test("a token without the needed role: 403 Authorization_RequestDenied")
    func forbidden() throws {
        try emu.admin("POST", "/apps/\(emu.app.clientID)/roles", ["roles": ["Application.ReadWrite.OwnedBy"]])
        let a = try emu.graph("/v1.0/users", token: try emu.accessToken())
        #expect(a.status == 403)
        #expect(a.errorCode == "Authorization_RequestDenied")
        #expect(a.errorMessage == "Insufficient privileges to complete the operation.")
    }

    @Test("unknown segments and wrong methods")
    func badRequests() throws {
        let token = try emu.accessToken()
        #expect(try emu.graph("/v1.0/groups", token: token).status == 400)
        let post = try emu.graph("/v1.0/users", token: token, method: "POST", body: "{}")
        #expect(post.status == 405)
        #expect(post.errorMessage == "Specified HTTP method is not allowed for the request target.")
    }
}

@Suite("Emulator: applications and their passwords", .timeLimit(.minutes(3)))
struct ApplicationsTests {
    let emu: EmulatorHarness
    let token: String
    init() throws {
        emu = try EmulatorHarness.start(EmulatorConfig(users: 10))
        token = try emu.accessToken()
    }

    var appPath: String { "/v1.0/applications(appId='\(emu.app.clientID)')" }

    @Test("read passwordCredentials by appId and by object id; secretText is always null")
    func read() throws {
        let a = try emu.graph(appPath + "?$select=passwordCredentials", token: token)
        #expect(a.status == 200)
        #expect(a.json["@odata.context"] as? String == "\(emu.base)/v1.0/$metadata#applications(passwordCredentials)/$entity")
        let creds = try #require(a.json["passwordCredentials"] as? [[String: Any]])
        #expect(creds.count == 1)
        #expect(creds[0]["secretText"] is NSNull)
        #expect(creds[0]["hint"] as? String == String(emu.app.secret!.prefix(3)))
        let byID = try emu.graph("/v1.0/applications/\(emu.app.objectID)?$select=passwordCredentials", token: token)
        #expect((byID.json["passwordCredentials"] as? [[String: Any]])?.first?["keyId"] as? String == creds[0]["keyId"] as? String)
        #expect(try emu.graph("/v1.0/applications/00000000-0000-0000-0000-000000000000", token: token).status == 404)
    }

    @Test("addPassword: 200, a 40-character secret of the real shape, hint, 2-year default, usable at once")
    func add() throws {
        let a = try emu.graph(appPath + "/addPassword", token: token, method: "POST", body: #"{"passwordCredential":{"displayName":"vault-test"}}"#)
        #expect(a.status == 200)
        let secret = try #require(a.json["secretText"] as? String)
        #expect(secret.count == 40)
        #expect(secret.range(of: #"^[A-Za-z0-9._~-]{4}Q~[A-Za-z0-9._~-]{34}$"#, options: .regularExpression) != nil)
        #expect(a.json["hint"] as? String == String(secret.prefix(3)))
        #expect(a.json["displayName"] as? String == "vault-test")
        #expect(a.json["@odata.context"] as? String == "\(emu.base)/v1.0/$metadata#microsoft.graph.passwordCredential")
        let start = try #require(a.json["startDateTime"] as? String)
        let end = try #require(a.json["endDateTime"] as? String)
        #expect(start.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$"#, options: .regularExpression) != nil)
        #expect(Int(end.prefix(4))! - Int(start.prefix(4))! == 2)
        #expect(try emu.secretToken(secret: secret).status == 200)
        let creds = try emu.graph(appPath + "?$select=passwordCredentials", token: token).json["passwordCredentials"] as? [[String: Any]]
        #expect(creds?.count == 2)
    }

    @Test("removePassword: 204, then 400 for the same keyId; the old secret stops working")
    func remove() throws {
        let creds = try emu.graph(appPath + "?$select=passwordCredentials", token: token).json["passwordCredentials"] as? [[String: Any]] ?? []
        let keyID = try #require(creds.first?["keyId"] as? String)
        let a = try emu.graph(appPath + "/removePassword", token: token, method: "POST", body: #"{"keyId":"\#(keyID)"}"#)
        #expect(a.status == 204)
        #expect(a.body.isEmpty)
        let again = try emu.graph(appPath + "/removePassword", token: token, method: "POST", body: #"{"keyId":"\#(keyID)"}"#)
        #expect(again.status == 400)
        #expect(again.errorMessage == "No password credential found with keyId \(keyID).")
        #expect(try emu.secretToken().json["error_codes"] as? [Int] == [7000215])
    }

    @Test("without ownership or Application.ReadWrite.All: 403; with ReadWrite.All: allowed")
    func permissions() throws {
        try emu.admin("POST", "/apps/\(emu.app.clientID)/owns-self", ["owns_self": false])
        let fresh = try emu.accessToken()
        #expect(try emu.graph(appPath + "/addPassword", token: fresh, method: "POST", body: "{}").status == 403)
        #expect(try emu.graph(appPath, token: fresh).status == 403)
        try emu.admin("POST", "/apps/\(emu.app.clientID)/roles", ["roles": ["Application.ReadWrite.All"]])
        let all = try emu.accessToken()
        #expect(try emu.graph(appPath + "/addPassword", token: all, method: "POST", body: "{}").status == 200)
    }
}
