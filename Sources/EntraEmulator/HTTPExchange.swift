import EmulatorDirectory
import Foundation

/// A request as the endpoint handlers see it: decoded, independent of the server library.
struct Exchange: Sendable {
    var method: String
    var path: String
    var rawQuery: String
    var query: [(String, String)]
    var headers: [String: String]      // lower-cased names
    var body: Data

    var clientRequestID: String? { headers["client-request-id"] }

    func queryValue(_ name: String) -> String? {
        query.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    static func parseQuery(_ raw: String) -> [(String, String)] {
        raw.split(separator: "&").map { part in
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (formDecode(String(kv[0])), kv.count > 1 ? formDecode(String(kv[1])) : "")
        }
    }

    /// application/x-www-form-urlencoded decoding: `+` is a space, `%XX` a byte.
    static func formDecode(_ s: String) -> String {
        let replaced = s.replacingOccurrences(of: "+", with: " ")
        return replaced.removingPercentEncoding ?? replaced
    }

    func form() -> [String: String] {
        var out: [String: String] = [:]
        for (k, v) in Exchange.parseQuery(String(decoding: body, as: UTF8.self)) where out[k] == nil { out[k] = v }
        return out
    }
}

/// A response from a handler.
struct Reply: Sendable {
    var status: Int
    var headers: [(String, String)] = []
    var body: Data = Data()
    /// Graph responses get Graph's headers and gzip; Entra responses get Entra's.
    var flavor: Flavor = .graph
    /// Set on responses whose body depends only on this key (user pages): their gzip form is computed once.
    var cacheKey: String?

    enum Flavor: Sendable { case graph, entra, plain }

    static func json(_ status: Int, _ object: Any, flavor: Flavor = .graph, contentType: String? = nil) -> Reply {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Reply(status: status, headers: [("Content-Type", contentType ?? Self.defaultType(flavor))], body: data, flavor: flavor)
    }

    static func raw(_ status: Int, _ text: String, contentType: String, flavor: Flavor = .graph) -> Reply {
        Reply(status: status, headers: [("Content-Type", contentType)], body: Data(text.utf8), flavor: flavor)
    }

    static func defaultType(_ flavor: Flavor) -> String {
        switch flavor {
        case .graph: "application/json"
        case .entra: "application/json; charset=utf-8"
        case .plain: "application/json"
        }
    }

    static let odataType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

    static func graphError(_ e: GraphError, requestID: String, clientRequestID: String?) -> Reply {
        let inner: [String: Any] = ["date": GraphTime.innerErrorDate(Date()), "request-id": requestID,
                                    "client-request-id": clientRequestID ?? requestID]
        var reply = json(e.status, ["error": ["code": e.code, "message": e.message, "innerError": inner]])
        if e.status == 401 {
            reply.headers.append(("WWW-Authenticate",
                                  "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\""))
        }
        if let r = e.retryAfter { reply.headers.append(("Retry-After", r)) }
        return reply
    }
}
