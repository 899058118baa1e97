import FoundationEssentials
import VaultCrypto
import VaultHTTP

/// An Entra ID error body (entra-token-protocol.md §7).
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
        return VaultError("entra.throttled", "throttled by Entra ID: the token request of app '\(app)' got HTTP 429 after \(attempts) attempt\(attempts == 1 ? "" : "s")\(asked)",
                          hint: wait.map { "try again in \(Self.seconds($0)); vault waits on its own only up to \(Self.seconds(maxWait)) (--max-wait)" }
                              ?? "too many token requests; try again later, and let vault's token cache serve repeated calls",
                          exit: .tempFailure)
    }

    /// Entra's answer to a credential it does not know *yet* (a new secret or key still propagating, graph-api.md
    /// §5.5): any `invalid_client` rejection of the credential itself — 7000215 today, other codes of the family for
    /// keys and in future versions — but not an expired secret or a request without any credential.
    public static func mayBePropagating(_ e: VaultError) -> Bool {
        e.code == "entra.invalid_secret" || e.code == "entra.invalid_client" || e.code == "entra.unknown_certificate"
    }

    static func seconds(_ s: Double) -> String {
        guard s.isFinite, s < 1e9 else { return "a very long time" }
        return s == s.rounded() ? "\(Int(s)) s" : "\(Int(s.rounded(.up))) s"
    }

    public static func map(_ response: HTTPResponse, app: String, clientID: String, tenant: String, scope: String,
                           url: String = "") -> VaultError {
        let decoded = try? JSONDecoder().decode(EntraErrorBody.self, from: Data(response.body))
        // A 404 means the URL is wrong (typically the tenant twice, from an authority given with its tenant by an older
        // vault), whatever the body says, unless Entra itself names an AADSTS error.
        if response.status == 404, (decoded?.error_codes?.first ?? 0) == 0 {
            return VaultError("entra.not_found", "the token endpoint \(url.isEmpty ? "" : url + " ")does not exist (HTTP 404) for app '\(app)'",
                              hint: "check the app's authority with `vault show \(app)`: it must be the login host, or MSAL's https://HOST/TENANT; re-add with `vault add-app \(app) --authority … --replace`",
                              exit: .config)
        }
        guard let body = decoded, body.error != nil else {
            let type = response.header("Content-Type") ?? "no content type"
            return VaultError("entra.http", "Entra ID answered HTTP \(response.status) with a body that is not an OAuth error (\(type))",
                              hint: "a proxy or gateway may be in the way; check https_proxy / no_proxy and the authority URL",
                              exit: response.status >= 500 ? .tempFailure : .unavailable)
        }
        let code = body.error_codes?.first ?? 0
        let support = body.correlation_id.map { "correlation id \($0)" }
        // No made-up code: an error without error_codes is shown with what it has.
        let tag = ([code == 0 ? nil : "AADSTS\(code)", support].compactMap { $0 }.joined(separator: ", "))
            .nonEmpty ?? "HTTP \(response.status), no AADSTS code"
        switch code {
        case 7000215:
            return VaultError("entra.invalid_secret", "Entra ID rejected the client secret of app '\(app)' (\(tag))",
                              hint: "the stored secret is wrong, or was replaced outside vault: store the current one with `vault add-app \(app) … --replace` or rotate with `vault rotate-secret \(app)`",
                              exit: .noPermission)
        case 7000222:
            return VaultError("entra.expired_secret", "the client secret of app '\(app)' has expired (\(tag))",
                              hint: "create a new secret in the app registration and store it with `vault add-app \(app) … --replace`; `vault status` warns before expiry",
                              exit: .noPermission)
        case 700027:
            return VaultError("entra.unknown_certificate", "Entra ID rejected the certificate assertion of app '\(app)': the certificate is not registered on the app, or the signature did not verify (\(tag))",
                              hint: "upload the certificate (`vault show \(app) --certificate-pem > app.cer`, then the portal's Certificates & secrets) and compare its thumbprint with `vault show \(app)`; a certificate uploaded moments ago may need a minute to propagate",
                              exit: .noPermission)
        case 700024:
            return VaultError("entra.assertion_time", "Entra ID refused the certificate assertion of app '\(app)' as outside its valid time (\(tag))",
                              hint: "this host's clock is probably wrong: check it (timedatectl, chrony); assertions are valid for 10 minutes from now",
                              exit: .config)
        case 700021:
            return VaultError("entra.assertion_issuer", "Entra ID refused the certificate assertion of app '\(app)': its issuer is not the client id \(clientID) (\(tag))",
                              hint: "check the app's --client-id with `vault show \(app)`", exit: .config)
        case 7000218:
            return VaultError("entra.missing_credential", "Entra ID received no credential for app '\(app)' (\(tag))",
                              hint: "the request lacked client_secret and client_assertion; a proxy may be stripping the body", exit: .unavailable)
        case 700016:
            return VaultError("entra.unknown_app", "Entra ID does not know an app with client id \(clientID) in tenant '\(tenant)' (\(tag))",
                              hint: "check --client-id and --tenant (and that the app is registered or consented in that tenant)",
                              exit: .config)
        case 90002:
            return VaultError("entra.unknown_tenant", "tenant '\(tenant)' does not exist in this cloud (\(tag))",
                              hint: "check --tenant (a GUID or verified domain) and --cloud", exit: .config)
        case 70011, 1002012:
            return VaultError("entra.invalid_scope", "Entra ID refused the scope '\(scope)' (\(tag))",
                              hint: "app-only tokens need exactly one scope of the form RESOURCE/.default, e.g. https://graph.microsoft.com/.default",
                              exit: .usage)
        case 500011:
            return VaultError("entra.unknown_resource", "the resource of scope '\(scope)' is not known in tenant '\(tenant)' (\(tag))",
                              hint: "check the resource URI in --scope", exit: .config)
        default:
            let first = body.error_description?.split(separator: "\r\n").first.map(String.init) ?? body.error ?? "unknown error"
            return VaultError("entra.\(body.error ?? "error")", "Entra ID refused the token request: \(first) (\(tag))",
                              exit: response.status >= 500 ? .tempFailure : .noPermission)
        }
    }
}
