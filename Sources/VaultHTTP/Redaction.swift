/// Removes secrets from what verbose logging prints: Authorization headers, form fields `client_secret` and
/// `client_assertion`, and JSON `access_token` / `secretText` / `refresh_token` values.
public enum Redaction {
    public static let marker = "[REDACTED]"
    static let secretHeaders: Set<String> = ["authorization", "proxy-authorization", "cookie", "set-cookie", "x-identity-header"]
    static let formFields = ["client_secret", "client_assertion"]
    static let jsonFields = ["access_token", "refresh_token", "id_token", "secretText", "secret", "client_secret"]

    public static func header(_ name: String, _ value: String) -> String {
        guard secretHeaders.contains(name.lowercased()) else { return value }
        if let space = value.firstIndex(of: " ") { return String(value[..<space]) + " " + marker }
        return marker
    }

    /// Redacts `name=value` pairs of an urlencoded form.
    public static func form(_ body: String) -> String {
        body.split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
            let name = pair.prefix { $0 != "=" }
            return formFields.contains(String(name)) ? "\(name)=\(marker)" : String(pair)
        }.joined(separator: "&")
    }

    /// Redacts the string values of secret JSON keys (textual, so it also works on truncated bodies).
    public static func json(_ body: String) -> String {
        var out = body
        for key in jsonFields {
            var searchFrom = out.startIndex
            while let r = out[searchFrom...].firstRange(of: "\"\(key)\"") {
                var i = r.upperBound
                while i < out.endIndex, out[i] == " " || out[i] == ":" { i = out.index(after: i) }
                guard i < out.endIndex, out[i] == "\"" else { searchFrom = r.upperBound; continue }
                let valueStart = out.index(after: i)
                var j = valueStart
                while j < out.endIndex, out[j] != "\"" {
                    if out[j] == "\\" { j = out.index(after: j); if j == out.endIndex { break } }
                    j = out.index(after: j)
                }
                out.replaceSubrange(valueStart..<j, with: marker)
                searchFrom = out.index(valueStart, offsetBy: marker.count, limitedBy: out.endIndex) ?? out.endIndex
            }
        }
        return out
    }

    /// A body for the log: form or JSON redacted, cut to `limit` characters.
    public static func body(_ text: String, contentType: String?, limit: Int = 2048) -> String {
        let ct = (contentType ?? "").lowercased()
        var redacted = ct.contains("x-www-form-urlencoded") ? form(text) : json(text)
        // A bearer token that reached a body some other way is cut out too.
        redacted = bearer(redacted)
        return redacted.count > limit ? String(redacted.prefix(limit)) + "…(\(redacted.count) chars)" : redacted
    }

    /// Replaces anything shaped like a JWT (three base64url parts starting `eyJ`) with the marker.
    public static func bearer(_ text: String) -> String {
        var out = ""
        var rest = Substring(text)
        while let r = rest.firstRange(of: "eyJ") {
            out += rest[..<r.lowerBound]
            var j = r.lowerBound
            var dots = 0
            while j < rest.endIndex, rest[j].isLetter || rest[j].isNumber || rest[j] == "-" || rest[j] == "_" || rest[j] == "." {
                if rest[j] == "." { dots += 1 }
                j = rest.index(after: j)
            }
            out += dots >= 2 ? marker : String(rest[r.lowerBound..<j])
            rest = rest[j...]
        }
        return out + rest
    }
}
