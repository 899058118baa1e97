import FoundationEssentials
import VaultCrypto
import VaultErrors
import VaultHTTP

/// An Entra ID error body (docs/protocols.md, "Entra: error responses").
struct EntraErrorBody: Decodable {
    var error: String?
    var error_description: String?
    var error_codes: [Int]?
    var correlation_id: String?
    var trace_id: String?
    var timestamp: String?
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}

/// Turns token-endpoint failures into clear messages keyed on the AADSTS code, with hints and the correlation id.
public enum EntraErrors {
    /// 429 from the token endpoint, whatever its body (Entra sends plain text): the wait it asked for, no proxy hint.
    public static func throttled(_ response: HTTPResponse, app: String, attempts: Int, maxWait: Double, now: Date) -> VaultError {
        let wait = RetryAfter.seconds(response.header("Retry-After"), now: now)
        let asked = wait.map { " and asks to wait \(Self.seconds($0))" } ?? ""
        var context: VaultError.Context = ["app": app, "max_wait": Self.seconds(maxWait)]
        if let wait { context["retry_after"] = Self.seconds(wait) }
        return VaultError("entra.throttled", "throttled by Entra ID: the token request of app '\(app)' got HTTP 429 after \(attempts) attempt\(attempts == 1 ? "" : "s")\(asked)",
                          context: context)
    }

    /// Entra's answer to a credential it does not know *yet* (a new secret or key still propagating, docs/protocols.md,
    /// "Graph: credential propagation"): any `invalid_client` rejection of the credential itself — 7000215 today, other
    /// codes of the family for keys and in future versions — but not an expired secret or a request without any
    /// credential.
    public static func mayBePropagating(_ e: VaultError) -> Bool {
        e.code == "entra.invalid_secret" || e.code == "entra.invalid_client" || e.code == "entra.unknown_certificate"
            || e.code == "entra.federated_no_match"
    }

    static func seconds(_ s: Double) -> String {
        guard s.isFinite, s < 1e9 else { return "a very long time" }
        return s == s.rounded() ? "\(Int(s)) s" : "\(Int(s.rounded(.up))) s"
    }

    /// The error for a refused token request; its context carries Entra's AADSTS number (`aadsts`) when the answer
    /// names one, so callers (the serve metrics) never read it out of the words.
    /// `credential` is the kind of credential sent (`AppCredential.kind`): the words of an assertion's errors differ
    /// between a certificate vault signed and a federated token it was handed.
    public static func map(_ response: HTTPResponse, app: String, clientID: String, tenant: String, scope: String,
                           url: String = "", credential: String = "") -> VaultError {
        let decoded = try? JSONDecoder().decode(EntraErrorBody.self, from: Data(response.body))
        var e = credential == "federated"
            ? federated(response, decoded: decoded, app: app) ?? map(response, decoded: decoded, app: app, clientID: clientID, tenant: tenant, scope: scope, url: url)
            : map(response, decoded: decoded, app: app, clientID: clientID, tenant: tenant, scope: scope, url: url)
        if let code = decoded?.error_codes?.first, code != 0 { e.context["aadsts"] = String(code) }
        return e
    }

    static func map(_ response: HTTPResponse, decoded: EntraErrorBody?, app: String, clientID: String, tenant: String, scope: String,
                    url: String) -> VaultError {
        // A 404 means the URL is wrong (typically the tenant twice, from an authority given with its tenant by an older
        // vault), whatever the body says, unless Entra itself names an AADSTS error.
        if response.status == 404, (decoded?.error_codes?.first ?? 0) == 0 {
            return VaultError("entra.not_found", "the token endpoint \(url.isEmpty ? "" : url + " ")does not exist (HTTP 404) for app '\(app)'", context: ["app": app])
        }
        guard let body = decoded, body.error != nil else {
            let type = response.header("Content-Type") ?? "no content type"
            return VaultError("entra.http", "Entra ID answered HTTP \(response.status) with a body that is not an OAuth error (\(type))",
                              context: ["status": String(response.status)])
        }
        let code = body.error_codes?.first ?? 0
        let support = body.correlation_id.map { "correlation id \($0)" }
        // No made-up code: an error without error_codes is shown with what it has.
        let tag = ([code == 0 ? nil : "AADSTS\(code)", support].compactMap { $0 }.joined(separator: ", "))
            .nonEmpty ?? "HTTP \(response.status), no AADSTS code"
        switch code {
        case 7000215:
            return VaultError("entra.invalid_secret", "Entra ID rejected the client secret of app '\(app)' (\(tag))", context: ["app": app])
        case 7000222:
            return VaultError("entra.expired_secret", "the client secret of app '\(app)' has expired (\(tag))", context: ["app": app])
        case 700027:
            return VaultError("entra.unknown_certificate", "Entra ID rejected the certificate assertion of app '\(app)': the certificate is not registered on the app, or the signature did not verify (\(tag))", context: ["app": app])
        case 700024:
            return VaultError("entra.assertion_time", "Entra ID refused the certificate assertion of app '\(app)' as outside its valid time (\(tag))")
        case 700021:
            return VaultError("entra.assertion_issuer", "Entra ID refused the certificate assertion of app '\(app)': its issuer is not the client id \(clientID) (\(tag))", context: ["app": app])
        case 7000218:
            return VaultError("entra.missing_credential", "Entra ID received no credential for app '\(app)' (\(tag))")
        case 700016:
            return VaultError("entra.unknown_app", "Entra ID does not know an app with client id \(clientID) in tenant '\(tenant)' (\(tag))")
        case 90002:
            return VaultError("entra.unknown_tenant", "tenant '\(tenant)' does not exist in this cloud (\(tag))")
        case 70011, 1002012:
            return VaultError("entra.invalid_scope", "Entra ID refused the scope '\(scope)' (\(tag))")
        case 500011:
            return VaultError("entra.unknown_resource", "the resource of scope '\(scope)' is not known in tenant '\(tenant)' (\(tag))")
        default:
            let first = body.error_description?.split(separator: "\r\n").first.map(String.init) ?? body.error ?? "unknown error"
            return VaultError(.init("entra.\(body.error ?? "error")"), "Entra ID refused the token request: \(first) (\(tag))",
                              context: ["status": String(response.status)])
        }
    }
}

extension EntraErrors {
    /// Entra's answers to a federated credential (docs/protocols.md; Microsoft, "Important considerations and
    /// restrictions for federated identity credentials"): nil for codes that read the same for every credential.
    static func federated(_ response: HTTPResponse, decoded: EntraErrorBody?, app: String) -> VaultError? {
        guard let body = decoded, body.error != nil, let code = body.error_codes?.first else { return nil }
        let tag = (["AADSTS\(code)", body.correlation_id.map { "correlation id \($0)" }].compactMap { $0 }).joined(separator: ", ")
        let context: VaultError.Context = ["app": app]
        switch code {
        case 70021:
            return VaultError("entra.federated_no_match", "Entra ID found no federated credential of app '\(app)' matching the token's issuer, subject and audience (\(tag))", context: context)
        case 700211:
            return VaultError("entra.federated_issuer", "Entra ID found no federated credential of app '\(app)' for the token's issuer (\(tag))", context: context)
        case 700024:
            return VaultError("entra.assertion_time", "Entra ID refused the federated token of app '\(app)' as outside its valid time (\(tag))", context: ["app": app, "case": "federated"])
        case 50166, 90061:
            // Entra's own first line says which fetch failed and why (e.g. a refused connection, an untrusted certificate).
            var said = body.error_description?.split(separator: "\r\n").first.map(String.init) ?? ""
            if said.hasPrefix("AADSTS"), let colon = said.firstIndex(of: ":") { said = String(said[said.index(after: colon)...].drop(while: { $0 == " " })) }
            said = String(said.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f }.prefix(300).map(Character.init))
            return VaultError("entra.federated_discovery", "Entra ID could not fetch or use the token issuer's OpenID discovery document or keys for app '\(app)'\(said.isEmpty ? "" : ": " + said) (\(tag))", context: context)
        case 7000272:
            return VaultError("entra.federated_key", "Entra ID did not find the key that signed the federated token of app '\(app)' among the issuer's published keys (\(tag))", context: context)
        case 700027:
            return VaultError("entra.federated_signature", "Entra ID refused the federated token of app '\(app)': its algorithm is not RS256 or its signature did not verify against the issuer's published keys (\(tag))", context: context)
        default:
            return nil
        }
    }
}
