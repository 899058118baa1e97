import Foundation
import Graph
import Testing

@Suite("Graph pieces")
struct GraphUnitTests {
    @Test("the scanner splits a page into its items and reads nextLink and count")
    func scan() throws {
        let body = Array(#"{"@odata.context":"x","@odata.count":3,"@odata.nextLink":"https://g/v1.0/users?$skiptoken=a\u0026b","value":[{"a":"}]\"","b":[1,{"c":null}]},{"d":true} , {}]}"#.utf8)
        let page = try GraphPage(body: body)
        #expect(page.items.count == 3)
        #expect(String(decoding: page.item(0), as: UTF8.self) == #"{"a":"}]\"","b":[1,{"c":null}]}"#)
        #expect(String(decoding: page.item(1), as: UTF8.self) == #"{"d":true}"#)
        #expect(page.nextLink == "https://g/v1.0/users?$skiptoken=a&b")
        #expect(page.count == 3)
    }

    @Test("malformed pages are errors, not crashes", arguments: [#"{"value":[{"a":1}"#, "<html>", #"{"value":"#, ""])
    func malformed(_ text: String) {
        #expect(throws: (any Error).self) { try GraphPage(body: Array(text.utf8)) }
    }

    @Test("advanced queries get ConsistencyLevel and $count=true; encoding keeps $ and commas")
    func usersRequest() {
        var r = UsersRequest()
        r.select = ["displayName", "id"]
        r.filter = "startswith(displayName,'A')"
        #expect(!r.isAdvanced)
        #expect(r.path == "/v1.0/users?$select=displayName,id&$filter=startswith%28displayName,%27A%27%29")
        r.filter = "userType ne 'Member'"
        #expect(r.isAdvanced)
        #expect(r.headers.map(\.0) == ["ConsistencyLevel"])
        #expect(r.path.hasSuffix("&$count=true"))
        var s = UsersRequest()
        s.search = "\"displayName:ada\""
        #expect(s.isAdvanced)
        #expect(UsersRequest.single("AdeleV_adatum.com#EXT#@contoso.onmicrosoft.com") == "/v1.0/users/AdeleV_adatum.com%23EXT%23@contoso.onmicrosoft.com")
        #expect(UsersRequest.single("$svc@contoso.com") == "/v1.0/users('$svc@contoso.com')")
    }
}
