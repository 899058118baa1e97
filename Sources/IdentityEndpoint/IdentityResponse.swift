import VaultCrypto
import VaultJSON

/// Response bodies (docs/protocols.md, "Managed identity: one response body": one success body that App Service, IMDS
/// and MSAL clients all accept).
public enum IdentityResponse {
    /// `{"access_token":…,"expires_on":"E","expires_in":"N","resource":…,"token_type":"Bearer","client_id":…}`,
    /// written into `out` (which the caller sends, then discards). `expires_in` is the real remaining lifetime.
    /// Returns false (and leaves `out` as it was) when the token's memory was reused before it could be read.
    @discardableResult
    public static func success(_ token: IdentityToken, resource: String, now: Int64, into out: inout [UInt8]) -> Bool {
        let start = out.count
        out.append(contentsOf: #"{"access_token":""#.utf8)
        let read = token.token.readSecret { (bytes: UnsafeRawBufferPointer) -> Bool in
            out.reserveCapacity(out.count + bytes.count + resource.utf8.count + 192)
            appendEscaped(bytes, to: &out)
            return true
        }
        guard read == true else {
            out.removeSubrange(start...)
            return false
        }
        out.append(contentsOf: #"","expires_on":""#.utf8)
        out.append(contentsOf: String(token.expiresOn).utf8)
        out.append(contentsOf: #"","expires_in":""#.utf8)
        out.append(contentsOf: String(max(0, token.expiresOn - now)).utf8)
        out.append(contentsOf: #"","resource":""#.utf8)
        for b in resource.utf8 { appendEscaped(b, to: &out) }
        out.append(contentsOf: #"","token_type":"Bearer","client_id":""#.utf8)
        for b in token.clientID.utf8 { appendEscaped(b, to: &out) }
        out.append(contentsOf: #""}"#.utf8)
        return true
    }

    /// `{"error":…,"error_description":…,"statusCode":N,"message":…}`: the IMDS fields and the App Service ones, so
    /// each client finds what it reads.
    public static func failure(_ refusal: IdentityRefusal) -> [UInt8] {
        var out: [UInt8] = []
        out.append(contentsOf: #"{"error":""#.utf8)
        for b in refusal.code.utf8 { appendEscaped(b, to: &out) }
        out.append(contentsOf: #"","error_description":""#.utf8)
        for b in refusal.message.utf8 { appendEscaped(b, to: &out) }
        out.append(contentsOf: #"","statusCode":"#.utf8)
        out.append(contentsOf: String(refusal.status).utf8)
        out.append(contentsOf: #","message":""#.utf8)
        for b in refusal.message.utf8 { appendEscaped(b, to: &out) }
        out.append(contentsOf: #""}"#.utf8)
        return out
    }

    /// A run of bytes: copied at once when nothing in it needs escaping (a JWT never does).
    static func appendEscaped(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        if bytes.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5c && $0 != 0x7f }) {
            out.append(contentsOf: bytes)
        } else {
            for b in bytes { appendEscaped(b, to: &out) }
        }
    }

    static func appendEscaped(_ b: UInt8, to out: inout [UInt8]) { JSONWriter.escape(b, into: &out) }
}
