import FoundationEssentials
import VaultCrypto
import VaultErrors
import VaultHTTP
import VaultJSON

extension KVClient {
    /// An identity token of the login's own entity from the engine's OIDC provider: `GET /v1/identity/oidc/token/ROLE`
    /// (OpenBao and HashiCorp Vault), answered with `data.token`, a JWT signed by the role's key whose `aud` is the
    /// role's `client_id`. The token is moved into secret memory at once; the answer's other fields are not kept.
    public func identityToken(role: String) throws -> SecretBytes {
        let path = "/v1/identity/oidc/token/\(role)"
        var response = try send("GET", path, body: nil)
        // The answer holds the token: wiped once read, and the token decoded straight into secret memory (never a
        // String or Data).
        defer { wipe(&response.body) }
        if response.status == 400 || response.status == 404 {
            // OpenBao answers 400 "role … not found" (and 404 on some versions) for a role that does not exist.
            throw VaultError("backend.identity_role", "the backend has no identity token role '\(role)' (HTTP \(response.status))",
                             context: ["role": role])
        }
        guard response.status == 200 else {
            throw Self.failure(response, what: "issuing an identity token of role \(role)", path: "identity/oidc/token/\(role)")
        }
        guard response.body.count <= 1 << 20 else {
            throw VaultError("backend.response", "the backend's identity token answer is larger than 1 MiB")
        }
        return try Self.decodeIdentityToken(response.body)
    }

    /// `data.token` of an identity token answer, decoded straight into secret memory (never a String or Data).
    public static func decodeIdentityToken(_ body: [UInt8]) throws -> SecretBytes {
        guard let outer = try? JSONScan.members(body), let data = outer["data"], let inner = try? JSONScan.members(body, in: data),
              let range = inner["token"], range.count > 2, body[range.lowerBound] == UInt8(ascii: "\""),
              let token = body.withUnsafeBufferPointer({ JSONStringDecoding.secret($0, range) }), token.count > 0 else {
            throw VaultError("backend.response", "the backend's identity token answer has no data.token")
        }
        return token
    }
}
