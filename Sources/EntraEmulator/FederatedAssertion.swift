import EmulatorDirectory
import Foundation

/// The token endpoint's side of federated identity credentials: a jwt-bearer `client_assertion` issued by an external
/// OIDC issuer instead of signed by one of the app's certificates (docs/emulator.md, "The token endpoint with a
/// federated credential").
extension EntraEndpoints {
    /// Entra's tolerance for clock differences on `exp` and `nbf` (Microsoft.IdentityModel's default `ClockSkew`, 300 s,
    /// the value the emulator also uses for certificate assertions).
    static let clockSkew: TimeInterval = 300
    static let ficDocs = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"

    /// An assertion is the app's own (a certificate assertion) when it names the app as issuer or carries the thumbprint
    /// of one of the app's certificates; any other is an external issuer's token.
    static func isCertificateAssertion(_ jwt: JWT.Parsed, app: AppRegistration) -> Bool {
        if jwt.claims["iss"] as? String == app.clientID { return true }
        let s256 = (jwt.header["x5t#S256"] as? String)?.unpadded
        let s1 = (jwt.header["x5t"] as? String)?.unpadded
        return app.certificates.contains { c in (s256 != nil && c.sha256 == s256) || (s1 != nil && c.sha1 == s1) }
    }

    /// Checks an external token against the app's federated identity credentials; nil when a token may be issued.
    func verifyFederated(_ jwt: JWT.Parsed, app: AppRegistration, x: Exchange) async -> Reply? {
        func invalidClient(_ code: Int, _ text: String) -> Reply { entraError(x, status: 401, error: "invalid_client", code: code, text: text) }
        func invalidRequest(_ code: Int, _ text: String) -> Reply { entraError(x, status: 400, error: "invalid_request", code: code, text: text) }

        let issuer = jwt.claims["iss"] as? String ?? ""
        // Every credential naming the issuer counts here, propagated or not: a new one fails later, with AADSTS70021.
        let candidates = app.federated.filter { $0.issuer == issuer }
        guard !candidates.isEmpty else {
            return invalidClient(700211, "No matching federated identity record found for presented assertion issuer '\(issuer)'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. \(Self.ficDocs)")
        }
        let alg = jwt.header["alg"] as? String ?? ""
        guard alg == "RS256" else {
            return invalidClient(700027, "Client assertion failed signature validation. The assertion is signed with '\(alg)'; federated identity credentials accept RS256.")
        }

        let keys: [IssuerKey]
        do {
            keys = try await core.issuers.keys(issuer: issuer, cacheSeconds: await core.state.issuerCacheSeconds)
        } catch {
            switch error {
            case .unreachable(let why): return invalidRequest(50166, "Request to External OIDC endpoint failed. (\(why))")
            case .invalid(let why): return invalidRequest(90061, "Request to External OIDC endpoint failed. (\(why))")
            }
        }
        let kid = jwt.header["kid"] as? String
        let signers = kid.map { k in keys.filter { $0.kid == k } } ?? keys
        guard !signers.isEmpty else {
            return invalidClient(7000272, "The certificate with identifier '\(kid ?? "")' used to sign the client assertion could not be found in the metadata of identity provider '\(issuer)'.")
        }
        guard signers.contains(where: { JWT.verify(jwt, key: $0.key) }) else {
            if kid == nil {
                return invalidClient(7000272, "The key used to sign the client assertion could not be found in the metadata of identity provider '\(issuer)'.")
            }
            return invalidClient(700027, "Client assertion failed signature validation.")
        }

        let now = Date()
        let t = now.timeIntervalSince1970
        func time(_ seconds: Double) -> String { GraphTime.sevenDigits(Date(timeIntervalSince1970: seconds)) }
        guard let exp = JWT.number(jwt.claims["exp"]) else {
            return invalidClient(700024, "Client assertion is not within its valid time range. The assertion has no expiry time.")
        }
        guard exp + Self.clockSkew > t else {
            return invalidClient(700024, "Client assertion is not within its valid time range. Current time: \(GraphTime.sevenDigits(now)), expiry time of assertion \(time(exp)).")
        }
        if let nbf = JWT.number(jwt.claims["nbf"]), nbf - Self.clockSkew > t {
            return invalidClient(700024, "Client assertion is not within its valid time range. Current time: \(GraphTime.sevenDigits(now)), assertion valid from \(time(nbf)), expiry time of assertion \(time(exp)).")
        }

        let subject = jwt.claims["sub"] as? String ?? ""
        let audiences = (jwt.claims["aud"] as? String).map { [$0] } ?? (jwt.claims["aud"] as? [String]) ?? []
        let matched = candidates.contains { fic in
            fic.usableFrom <= now && fic.subject == subject && fic.audiences.contains(where: audiences.contains)
        }
        guard matched else {
            return invalidRequest(70021, "No matching federated identity record found for presented assertion. Assertion Issuer: '\(issuer)'. Assertion Subject: '\(subject)'. Assertion Audience: '\(audiences.joined(separator: ","))'. \(Self.ficDocs)")
        }
        return nil
    }
}
