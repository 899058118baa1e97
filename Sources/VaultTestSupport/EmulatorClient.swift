import Foundation
import VaultCrypto
import VaultHTTP

/// Small helpers over the harness for endpoint tests.
extension EmulatorHarness {
    public struct Answer {
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]
        public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]) ?? [:] }
        public var text: String { String(decoding: body, as: UTF8.self) }
        public func header(_ n: String) -> String? { headers.last { $0.0.lowercased() == n.lowercased() }?.1 }
        public var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
        public var errorMessage: String? { (json["error"] as? [String: Any])?["message"] as? String }
    }

    public func call(_ method: String, _ path: String, headers: [(String, String)] = [], body: String? = nil) throws -> Answer {
        let r = try send(method, path, headers: headers, body: body)
        return Answer(status: r.status, headers: r.headers, body: r.body)
    }

    /// POSTs a token request with `fields` (form-encoded here).
    public func tokenRequest(_ fields: [(String, String)], tenant: String? = nil, headers: [(String, String)] = []) throws -> Answer {
        let body = fields.map { "\($0.0)=\(Self.formEncode($0.1))" }.joined(separator: "&")
        return try call("POST", "/\(tenant ?? info.tenantID)/oauth2/v2.0/token",
                        headers: [("Content-Type", "application/x-www-form-urlencoded")] + headers, body: body)
    }

    public static func formEncode(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed)!.replacingOccurrences(of: "%20", with: "+")
    }

    public func secretToken(clientID: String? = nil, secret: String? = nil, scope: String = "https://graph.microsoft.com/.default") throws -> Answer {
        try tokenRequest([("client_id", clientID ?? app.clientID), ("grant_type", "client_credentials"), ("client_info", "1"),
                          ("client_secret", secret ?? app.secret!), ("scope", scope)])
    }

    public func accessToken() throws -> String {
        let a = try secretToken()
        guard let t = a.json["access_token"] as? String else { throw HarnessError(message: "no token: \(a.text)") }
        return t
    }

    public func graph(_ path: String, token: String? = nil, headers: [(String, String)] = [], method: String = "GET", body: String? = nil) throws -> Answer {
        var h = headers
        if let token { h.append(("Authorization", "Bearer \(token)")) }
        if body != nil { h.append(("Content-Type", "application/json")) }
        return try call(method, path, headers: h, body: body)
    }
}

public func claims(of jwt: String) -> [String: Any] {
    let part = String(jwt.split(separator: ".")[1])
    var b = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while b.count % 4 != 0 { b += "=" }
    return (try? JSONSerialization.jsonObject(with: Data(base64Encoded: b)!) as? [String: Any]) ?? [:]
}
