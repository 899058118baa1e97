import VaultJSON

/// Removes secrets from what verbose logging prints: Authorization headers, form fields `client_secret` and
/// `client_assertion`, and JSON `access_token` / `secretText` / `refresh_token` values.
public enum Redaction {
    public static let marker = "[REDACTED]"
    static let secretHeaders: Set<String> = ["authorization", "proxy-authorization", "cookie", "set-cookie", "x-identity-header", "x-vault-token", "x-vault-wrap-token"]
    static let formFields = ["client_secret", "client_assertion"]
    /// Entra ID's and Graph's secret members, and OpenBao's (AppRole `secret_id`, login `client_token`, a wrapping
    /// `token`, and the fleet rotation record's `new_secret`).
    static let jsonFields = ["access_token", "refresh_token", "id_token", "secretText", "secret", "client_secret",
                             "secret_id", "client_token", "token", "new_secret"]

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

    /// Form fields whose values may be logged; every other value is redacted.
    static let safeFormFields: Set<String> = ["client_id", "grant_type", "client_info", "scope", "client_assertion_type"]

    /// A form body for the log, built byte by byte from secret memory: only the values of `safeFormFields` are
    /// copied out, so the secret never becomes a Swift `String`, not even for a moment.
    public static func formSummary(_ body: UnsafeRawBufferPointer) -> String {
        var out: [UInt8] = []
        var i = 0
        while i <= body.count {
            var end = i
            while end < body.count, body[end] != 0x26 { end += 1 }
            var eq = i
            while eq < end, body[eq] != 0x3d { eq += 1 }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: body[i..<eq]), as: UTF8.self)
            if !out.isEmpty { out.append(0x26) }
            // A name is shown only when it is plain (letters, digits, '_'); anything else is not a field vault sends.
            // A segment without '=' is not a field: shown as the marker, never as its bytes.
            if eq < end, name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5f }) {
                out += Array(name.utf8)
                out.append(0x3d)
                out += safeFormFields.contains(name) ? Array(UnsafeRawBufferPointer(rebasing: body[(eq + 1)..<end])) : Array(marker.utf8)
            } else {
                out += Array(marker.utf8)
            }
            i = end + 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Key fragments that make a JSON member secret wherever it appears, compared after lower-casing and dropping
    /// `_` and `-`: passwords (`password`, `passwordProfile`, `newPassword`), `temporaryAccessPass`, `key`,
    /// `privateKey`, `secretText`, `client_secret`, tokens of every kind, assertions, credentials, cookies.
    static let secretKeyFragments = ["password", "passwd", "pass", "secret", "token", "key", "assertion", "credential", "cookie",
                                     "signature", "pwd", "otp", "proof", "sessionid"]

    public static func isSecretKey(_ key: String) -> Bool {
        let k = String(key.lowercased().filter { $0 != "_" && $0 != "-" })
        return secretKeyFragments.contains { k.contains($0) }
    }

    /// A JSON body for the log (`-vv`): every member whose key looks secret (`isSecretKey`) has its whole value —
    /// string, number, object or array — replaced by the marker, whatever whitespace surrounds the colon. Default
    /// deny: a body that is not complete, valid JSON is not shown at all, only its size.
    public static func jsonForLog(_ body: [UInt8]) -> String {
        guard let out = JSONRedactor.copy(body, marker: marker, redacting: isSecretKey) else { return "[\(body.count) bytes, not valid JSON: not shown]" }
        return String(decoding: out, as: UTF8.self)
    }

    /// A body for the log: forms through `formSummary`, JSON through `jsonForLog`, empty bodies as nothing, and any
    /// other content type only by its size. Cut to `limit` characters.
    public static func logBody(_ body: UnsafeRawBufferPointer, contentType: String?, limit: Int = 4096) -> String {
        let ct = (contentType ?? "").lowercased()
        let text: String
        if body.isEmpty {
            text = "(empty)"
        } else if ct.contains("x-www-form-urlencoded") {
            text = formSummary(body)
        } else if ct.contains("json") || body.first == 0x7b || body.first == 0x5b {
            text = bearer(jsonForLog(Array(body)))
        } else {
            text = "[\(body.count) bytes of \(ct.isEmpty ? "unknown type" : ct): not shown]"
        }
        return text.count > limit ? String(text.prefix(limit)) + "…(\(text.count) chars)" : text
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
