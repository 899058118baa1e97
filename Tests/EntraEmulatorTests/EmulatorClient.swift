import Foundation
import VaultCrypto
import VaultHTTP
import VaultTestSupport

/// Small helpers over the harness for endpoint tests.
extension EmulatorHarness {
    struct Answer {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]) ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
        func header(_ n: String) -> String? { headers.last { $0.0.lowercased() == n.lowercased() }?.1 }
        var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
        var errorMessage: String? { (json["error"] as? [String: Any])?["message"] as? String }
    }

    func call(_ method: String, _ path: String, headers: [(String, String)] = [], body: String? = nil) throws -> Answer {
        let r = try send(method, path, headers: headers, body: body)
        return Answer(status: r.status, headers: r.headers, body: r.body)
    }

    /// POSTs a token request with `fields` (form-encoded here).
    func tokenRequest(_ fields: [(String, String)], tenant: String? = nil, headers: [(String, String)] = []) throws -> Answer {
        let body = fields.map { "\($0.0)=\(Self.formEncode($0.1))" }.joined(separator: "&")
        return try call("POST", "/\(tenant ?? info.tenantID)/oauth2/v2.0/token",
                        headers: [("Content-Type", "application/x-www-form-urlencoded")] + headers, body: body)
    }

    static func formEncode(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed)!.replacingOccurrences(of: "%20", with: "+")
    }

    func secretToken(clientID: String? = nil, secret: String? = nil, scope: String = "https://graph.microsoft.com/.default") throws -> Answer {
        try tokenRequest([("client_id", clientID ?? app.clientID), ("grant_type", "client_credentials"), ("client_info", "1"),
                          ("client_secret", secret ?? app.secret!), ("scope", scope)])
    }

    func accessToken() throws -> String {
        let a = try secretToken()
        guard let t = a.json["access_token"] as? String else { throw HarnessError(message: "no token: \(a.text)") }
        return t
    }

    func graph(_ path: String, token: String? = nil, headers: [(String, String)] = [], method: String = "GET", body: String? = nil) throws -> Answer {
        var h = headers
        if let token { h.append(("Authorization", "Bearer \(token)")) }
        if body != nil { h.append(("Content-Type", "application/json")) }
        return try call(method, path, headers: h, body: body)
    }
}

func claims(of jwt: String) -> [String: Any] {
    let part = String(jwt.split(separator: ".")[1])
    var b = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while b.count % 4 != 0 { b += "=" }
    return (try? JSONSerialization.jsonObject(with: Data(base64Encoded: b)!) as? [String: Any]) ?? [:]
}
