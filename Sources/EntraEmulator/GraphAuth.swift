import EmulatorDirectory
import Foundation

/// What a valid Graph access token says about its caller.
struct Caller {
    var tenant: Tenant
    var clientID: String
    var servicePrincipalID: String
    var roles: Set<String>
}

/// Graph's token checks, in the order of docs/protocols.md, "Entra: access tokens".
enum GraphAuth {
    static func authenticate(_ x: Exchange, core: EmulatorCore) async throws -> Caller {
        guard let header = x.headers["authorization"], header.lowercased().hasPrefix("bearer "),
              case let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces), !token.isEmpty else {
            throw GraphError.unauthorized("Access token is empty.")
        }
        guard token.split(separator: ".", omittingEmptySubsequences: false).count == 3 else {
            throw GraphError.unauthorized("IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE Compact Serialization Format. (JWS): 'EncodedHeader.EndcodedPayload.EncodedSignature'. (JWE): 'EncodedProtectedHeader.EncodedEncryptedKey.EncodedInitializationVector.EncodedCiphertext.EncodedAuthenticationTag'.")
        }
        guard let jwt = JWT.parse(token) else {
            throw GraphError.unauthorized("IDX14102: Unable to decode the header as Base64Url encoded string.")
        }
        let tid = (jwt.claims["tid"] as? String)?.lowercased() ?? ""
        // The signature is checked against the key of the tenant the token names; an unknown tenant has no key.
        guard let tenant = core.tenants.first(where: { $0.id == tid }) else {
            throw GraphError.unauthorized("Access token validation failure. Invalid issuer.")
        }
        guard jwt.header["alg"] as? String == "RS256", JWT.verify(jwt, key: tenant.key.privateKey.publicKey) else {
            throw GraphError.unauthorized("Access token validation failure. Invalid signature.")
        }
        let aud = jwt.claims["aud"] as? String ?? ""
        guard ["https://graph.microsoft.com", "https://graph.microsoft.com/", "00000003-0000-0000-c000-000000000000"].contains(aud) else {
            throw GraphError.unauthorized("Access token validation failure. Invalid audience.")
        }
        guard jwt.claims["iss"] as? String == tenant.v1Issuer || jwt.claims["iss"] as? String == "\(core.base)/\(tenant.id)/v2.0" else {
            throw GraphError.unauthorized("Access token validation failure. Invalid issuer.")
        }
        let now = Date().timeIntervalSince1970
        guard let exp = JWT.number(jwt.claims["exp"]), exp > now,
              (JWT.number(jwt.claims["nbf"]) ?? 0) <= now + 5 else {
            throw GraphError.unauthorized("Lifetime validation failed, the token is expired.")
        }
        if let uti = jwt.claims["uti"] as? String, await core.state.isRevoked(uti) {
            throw GraphError.unauthorized("Lifetime validation failed, the token is expired.")
        }
        let appID = (jwt.claims["appid"] as? String) ?? (jwt.claims["azp"] as? String) ?? ""
        guard let app = await core.state.app(appID), app.servicePrincipal(in: tenant.id) != nil else {
            throw GraphError.unauthorized("Access token validation failure. Invalid application.")
        }
        return Caller(tenant: tenant, clientID: app.clientID, servicePrincipalID: jwt.claims["oid"] as? String ?? "",
                      roles: Set(jwt.claims["roles"] as? [String] ?? []))
    }
}
