import EmulatorDirectory
import Foundation

/// The Entra ID side: discovery, JWKS and the v2.0 token endpoint (docs/protocols.md, "Entra: discovery" to
/// "Entra: error responses").
struct EntraEndpoints: Sendable {
    let core: EmulatorCore
    static let jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    func handle(_ x: Exchange) async -> Reply? {
        let parts = x.path.split(separator: "/").map(String.init)
        if parts.count == 3, parts[0] == "common", parts[1] == "discovery", parts[2] == "instance" {
            return instanceDiscovery(x)
        }
        guard let tenantSegment = parts.first else { return nil }
        let rest = Array(parts.dropFirst())
        switch rest {
        case ["v2.0", ".well-known", "openid-configuration"]:
            guard x.method == "GET" else { return nil }
            guard let tenant = core.tenant(tenantSegment) else { return unknownTenant(tenantSegment, x) }
            return discovery(tenant)
        case ["discovery", "v2.0", "keys"], ["discovery", "keys"]:
            guard let tenant = core.tenant(tenantSegment) else { return unknownTenant(tenantSegment, x) }
            let jwk = (try? tenant.key.jwk(issuer: "\(core.base)/\(tenant.id)/v2.0")) ?? [:]
            return .json(200, ["keys": [jwk]], flavor: .entra)
        case ["oauth2", "v2.0", "token"]:
            guard x.method == "POST" else {
                return entraError(x, status: 405, error: "invalid_request", code: 900561,
                                  text: "The endpoint only accepts POST requests. Received a \(x.method) request.")
            }
            return await token(x, tenantSegment: tenantSegment)
        default:
            return nil
        }
    }

    func discovery(_ t: Tenant) -> Reply {
        let b = "\(core.base)/\(t.id)"
        return .json(200, [
            "token_endpoint": "\(b)/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": "\(b)/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": "\(b)/v2.0",
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": "\(core.base)/oidc/userinfo",
            "authorization_endpoint": "\(b)/oauth2/v2.0/authorize",
            "device_authorization_endpoint": "\(b)/oauth2/v2.0/devicecode",
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": "\(b)/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "roles"],
            "kerberos_endpoint": "\(b)/kerberos",
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        ], flavor: .entra)
    }

    func instanceDiscovery(_ x: Exchange) -> Reply {
        let endpoint = x.queryValue("authorization_endpoint") ?? ""
        let host = URL(string: endpoint)?.host ?? ""
        guard host == "127.0.0.1" || host == "localhost" || host == "login.microsoftonline.com" else {
            return entraError(x, status: 400, error: "invalid_instance", code: 50049,
                              text: "Unknown or invalid instance.")
        }
        let tenantPath = URL(string: endpoint)?.pathComponents.dropFirst().first ?? "common"
        return .json(200, [
            "tenant_discovery_endpoint": "\(core.base)/\(tenantPath)/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [["preferred_network": host, "preferred_cache": host, "aliases": [host]]],
        ], flavor: .entra)
    }

    func unknownTenant(_ t: String, _ x: Exchange) -> Reply {
        entraError(x, status: 400, error: "invalid_tenant", code: 90002,
                   text: "Tenant '\(t)' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.")
    }

    /// The error body (docs/protocols.md, "Entra: error responses") with trace id, correlation id (= client-request-id)
    /// and timestamp.
    func entraError(_ x: Exchange, status: Int, error: String, code: Int, text: String) -> Reply {
        let trace = GUID.make()
        let correlation = x.clientRequestID ?? GUID.make()
        let ts = GraphTime.entraTimestamp(Date())
        return .json(status, [
            "error": error,
            "error_description": "AADSTS\(code): \(text)\r\nTrace ID: \(trace)\r\nCorrelation ID: \(correlation)\r\nTimestamp: \(ts)",
            "error_codes": [code], "timestamp": ts, "trace_id": trace, "correlation_id": correlation,
            "error_uri": "\(core.base)/error?code=\(code)",
        ], flavor: .entra)
    }

    func token(_ x: Exchange, tenantSegment: String) async -> Reply {
        guard let tenant = core.tenant(tenantSegment) else { return unknownTenant(tenantSegment, x) }
        let form = x.form()
        var clientID = form["client_id"]
        var secret = form["client_secret"]
        if let auth = x.headers["authorization"], auth.lowercased().hasPrefix("basic "),
           let decoded = Data(base64Encoded: String(auth.dropFirst(6))).flatMap({ String(data: $0, encoding: .utf8) }),
           let colon = decoded.firstIndex(of: ":") {
            clientID = clientID ?? Exchange.formDecode(String(decoded[..<colon]))
            secret = Exchange.formDecode(String(decoded[decoded.index(after: colon)...]))
        }
        let grant = form["grant_type"] ?? ""
        guard let clientID, !clientID.isEmpty else {
            return entraError(x, status: 400, error: "invalid_request", code: 900144,
                              text: "The request body must contain the following parameter: 'client_id'.")
        }
        await core.state.countTokenRequest(clientID: clientID.lowercased(), grant: grant.isEmpty ? "none" : grant)
        guard grant == "client_credentials" else {
            if grant.isEmpty {
                return entraError(x, status: 400, error: "invalid_request", code: 900144,
                                  text: "The request body must contain the following parameter: 'grant_type'.")
            }
            return entraError(x, status: 400, error: "unsupported_grant_type", code: 70003,
                              text: "The app requested an unsupported grant type '\(grant)'.")
        }
        guard let app = await core.state.app(clientID), let servicePrincipal = app.servicePrincipal(in: tenant.id) else {
            return entraError(x, status: 400, error: "unauthorized_client", code: 700016,
                              text: "Application with identifier '\(clientID)' was not found in the directory '\(tenantSegment)'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.")
        }
        let now = Date()
        var acr = "1"
        if let assertion = form["client_assertion"], form["client_assertion_type"] == Self.jwtBearer,
           let jwt = JWT.parse(assertion), !Self.isCertificateAssertion(jwt, app: app) {
            if let failure = await verifyFederated(jwt, app: app, x: x) { return failure }
            acr = "2"
        } else if let assertion = form["client_assertion"] {
            if let failure = await verifyAssertion(assertion, type: form["client_assertion_type"], app: app, tenantSegment: tenantSegment, x: x) {
                return failure
            }
            acr = "2"
        } else if let secret {
            let matching = app.passwords.filter { constantTimeEquals($0.secret, secret) }
            guard let cred = matching.first, cred.usableFrom <= now, cred.start <= now.addingTimeInterval(300) else {
                return entraError(x, status: 401, error: "invalid_client", code: 7000215,
                                  text: "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '\(app.clientID)'.")
            }
            guard cred.end > now else {
                return entraError(x, status: 401, error: "invalid_client", code: 7000222,
                                  text: "The provided client secret keys for app '\(app.clientID)' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.")
            }
        } else {
            return entraError(x, status: 401, error: "invalid_client", code: 7000218,
                              text: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
        }
        if let scopeFailure = checkScope(form["scope"], x: x) { return scopeFailure }

        let lifetime = await core.state.tokenLifetime
        let iat = Int(now.timeIntervalSince1970)
        let uti = Data(UUID().uuidString.utf8.prefix(16)).base64URL
        var claims: [String: Any] = [
            "aud": "https://graph.microsoft.com", "iss": tenant.v1Issuer, "iat": iat, "nbf": iat, "exp": iat + lifetime,
            "aio": Data(UUID().uuidString.utf8).base64URL, "app_displayname": app.displayName, "appid": app.clientID,
            "appidacr": acr, "idp": tenant.v1Issuer, "idtyp": "app", "oid": servicePrincipal,
            "rh": "0.emulator.", "sub": servicePrincipal, "tid": tenant.id,
            "uti": uti, "ver": "1.0",
            "xms_tcdt": 1_600_000_000,
        ]
        // Entra leaves the claim out, rather than sending [], when the app holds no application permission.
        if !app.roles.isEmpty { claims["roles"] = app.roles }
        guard let jwt = try? JWT.sign(header: ["typ": "JWT", "alg": "RS256", "x5t": tenant.key.kid, "kid": tenant.key.kid],
                                      claims: claims, key: tenant.key.privateKey) else {
            return entraError(x, status: 500, error: "server_error", code: 50000, text: "There was an error issuing a token.")
        }
        await core.state.countTokenIssued(clientID: app.clientID, uti: uti)
        var body: [String: Any] = ["token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": jwt]
        if lifetime >= 7200 { body["refresh_in"] = lifetime / 2 }
        return .json(200, body, flavor: .entra)
    }

    /// Exactly one `{resource}/.default` scope, for Graph.
    func checkScope(_ scope: String?, x: Exchange) -> Reply? {
        guard let scope, !scope.trimmingCharacters(in: .whitespaces).isEmpty else {
            return entraError(x, status: 400, error: "invalid_request", code: 900144,
                              text: "The request body must contain the following parameter: 'scope'.")
        }
        let scopes = scope.split(separator: " ").map(String.init)
        let wellFormed = scopes.allSatisfy { s in
            s.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7f && !"\"<>\\^`{|}".unicodeScalars.contains($0) }
        }
        guard wellFormed, scopes.count == 1 || scopes.allSatisfy({ !$0.hasSuffix("/.default") }) else {
            return entraError(x, status: 400, error: "invalid_scope", code: 70011,
                              text: "The provided value for the input parameter 'scope' is not valid. The scope \(scope) is not valid.")
        }
        guard scopes.count == 1, scopes[0].hasSuffix("/.default") else {
            return entraError(x, status: 400, error: "invalid_scope", code: 1002012,
                              text: "The provided value for scope \(scope) is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
        }
        let resource = String(scopes[0].dropLast("/.default".count))
        guard ["https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000", "https://graph.microsoft.com/"].contains(resource.lowercased()) else {
            return entraError(x, status: 400, error: "invalid_resource", code: 500011,
                              text: "The resource principal named \(resource) was not found in the tenant named \(core.tenants.first?.domain ?? ""). This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.")
        }
        return nil
    }

    func verifyAssertion(_ assertion: String, type: String?, app: AppRegistration, tenantSegment: String, x: Exchange) async -> Reply? {
        func fail(_ code: Int, _ text: String) -> Reply { entraError(x, status: 401, error: "invalid_client", code: code, text: text) }
        guard type == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" else {
            return entraError(x, status: 400, error: "invalid_request", code: 50027,
                              text: "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.")
        }
        guard let jwt = JWT.parse(assertion) else { return fail(50027, "JWT token is invalid or malformed.") }
        let s256 = (jwt.header["x5t#S256"] as? String)?.unpadded
        let s1 = (jwt.header["x5t"] as? String)?.unpadded
        let now = Date()
        guard let cert = app.certificates.first(where: { c in
            c.usableFrom <= now && ((s256 != nil && c.sha256 == s256) || (s256 == nil && s1 != nil && c.sha1 == s1))
        }) else {
            return fail(700027, "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '\(s256 ?? s1 ?? "")']")
        }
        guard JWT.verify(jwt, key: cert.publicKey) else {
            return fail(700027, "Client assertion failed signature validation.")
        }
        guard cert.end > now, cert.start <= now.addingTimeInterval(300) else {
            return fail(700027, "The certificate with identifier used to sign the client assertion is expired on application. [Reason - The key used is expired., Thumbprint of key used by client: '\(s256 ?? s1 ?? "")']")
        }
        let iss = jwt.claims["iss"] as? String
        let sub = jwt.claims["sub"] as? String
        guard iss == app.clientID, sub == app.clientID else {
            return fail(700021, "Client assertion application identifier doesn't match 'client_id' parameter.")
        }
        let tokenURL = "\(core.base)/\(tenantSegment)/oauth2/v2.0/token"
        let audiences = (jwt.claims["aud"] as? String).map { [$0] } ?? (jwt.claims["aud"] as? [String]) ?? []
        guard audiences.contains(where: { $0.lowercased() == tokenURL.lowercased() }) else {
            return fail(700027, "Client assertion contains an invalid audience claim. Expected '\(tokenURL)'.")
        }
        let t = now.timeIntervalSince1970
        guard let exp = JWT.number(jwt.claims["exp"]), exp > t - 300 else {
            return fail(700024, "Client assertion is not within its valid time range.")
        }
        let start = JWT.number(jwt.claims["nbf"]) ?? JWT.number(jwt.claims["iat"]) ?? t
        guard start <= t + 300, exp - start <= 3600 * 24 else {
            return fail(700024, "Client assertion is not within its valid time range.")
        }
        guard let jti = jwt.claims["jti"] as? String, await core.state.useJTI(jti) else {
            return fail(700027, "Client assertion contains a jti that was already used or no jti.")
        }
        return nil
    }

    func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
