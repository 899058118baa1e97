import VaultErrors
#if canImport(Glibc)
import Glibc
#endif

/// The one table of the CLI's words for errors: for every code vault's libraries (and this executable) throw, the
/// sysexits status vault ends with and the hint it prints under `vault: error:`. Libraries say what happened
/// (`VaultError.reason`) and hand named values (`context`); only this table names flags and commands. A hint's
/// `{key}` is filled from the error's context; a hint whose value is missing is left out rather than shown broken.
package enum ErrorWords {
    /// sysexits(3) values.
    package enum ExitStatus: Int32 {
        case usage = 64, dataError = 65, noInput = 66, unavailable = 69, software = 70
        case ioError = 74, tempFailure = 75, noPermission = 77, config = 78
    }

    package struct Words {
        package let exit: ExitStatus
        package let hint: String?
        /// False for the default words of a code the table does not list.
        package var known = true
        package init(_ exit: ExitStatus, _ hint: String?, known: Bool = true) { self.exit = exit; self.hint = hint; self.known = known }
    }

    /// Defaults for context values a code's sites may leave out.
    package static let defaults: [(key: String, value: String)] = [("command", "rotate-secret")]

    /// The exit status of `error`: the table's, refined where the context carries the cause.
    package static func exitStatus(_ error: VaultError) -> Int32 {
        let code = error.code.rawValue
        if let n = error.context["errno"].flatMap(Int32.init) {
            switch n {
            case EACCES, EPERM: return ExitStatus.noPermission.rawValue
            case ENOENT where code == "io.read" || code == "exec.spawn": return ExitStatus.noInput.rawValue
            case EEXIST where code == "io.create": return ExitStatus.usage.rawValue
            default: break
            }
        }
        if let status = error.context["status"].flatMap(Int.init), status >= 500 || status == 429, code.hasPrefix("entra.") || code == "graph.redirect_target" {
            return ExitStatus.tempFailure.rawValue
        }
        if code == "rotation.unproven", error.context["kind"] == "certificate" { return ExitStatus.tempFailure.rawValue }
        // An error wrapped by another (a refused rotation, an unproven key) ends as its cause would have.
        if let cause = error.context["cause"], cause != code, code == "rotation.manual_refused" || code == "rotation.unproven" {
            var inner: VaultError.Context = [:]
            for p in error.context.pairs where p.key.hasPrefix("cause.") { inner[String(p.key.dropFirst(6))] = p.value }
            return exitStatus(VaultError(.init(cause), "", context: inner))
        }
        return words(error).exit.rawValue
    }

    /// The table's key: the code, and the case the library named when one code covers several situations.
    package static func key(_ error: VaultError) -> String {
        error.context["case"].map { error.code.rawValue + ":" + $0 } ?? error.code.rawValue
    }

    /// The words of the error's case, else of its code.
    package static func words(_ error: VaultError) -> Words {
        let exact = words(key(error))
        return exact.known || error.context["case"] == nil ? exact : words(error.code.rawValue)
    }

    /// A refusal the token endpoint of `exec` and `serve` sends its client: temporary (503: try again) when vault
    /// would end with tempfail, unavailable or an I/O error; the reason with the hint in parentheses.
    @Sendable package static func refusal(_ error: VaultError) -> (temporary: Bool, message: String) {
        let status = exitStatus(error)
        let temporary = [ExitStatus.tempFailure, .unavailable, .ioError].contains { $0.rawValue == status }
        return (temporary, message(error) + (hint(error).map { " (\($0))" } ?? ""))
    }

    /// The message after `vault: error:`: the library's reason, or the table's own words where the reason is about
    /// something the user typed (the flag is named here, never below).
    package static func message(_ error: VaultError) -> String {
        guard let template = messageTemplate(key(error)), let text = fill(template, error.context) else { return error.reason }
        return text
    }

    /// Words for errors about a command-line value; `{flag}` is the flag of the context's `input`.
    package static func messageTemplate(_ code: String) -> String? {
        switch code {
        case "app.url": return "invalid {flag} '{value}': {detail}"
        case "app.url:authority": return "invalid --authority '{value}': its path must be the tenant alone"
        case "app.tenant:conflict": return "--tenant '{tenant}' and the tenant in --authority ('{authority_tenant}') differ"
        case "app.cloud:graph": return "--graph {value} is the Graph of the {cloud} cloud, not of {chosen}"
        case "app.cloud:authority": return "--authority {value} signs in to the {cloud} cloud, not to {chosen}"
        case "app.custom_endpoint": return "{flag} {value} is not a Microsoft cloud endpoint vault knows"
        default: return nil
        }
    }

    /// The flag that gives each named input.
    package static let flags: [(input: String, flag: String)] = [("authority", "--authority"), ("graph", "--graph")]

    /// The hint printed under the error, if any.
    package static func hint(_ error: VaultError) -> String? {
        if let special = specialHint(error) { return special }
        guard let template = words(error).hint else {
            // Entra answering 5xx (or 429) until vault stopped retrying.
            if error.code.isIn("entra"), let status = error.context["status"].flatMap(Int.init), status >= 500 || status == 429 {
                return "Entra ID is busy or unavailable; try again later"
            }
            return nil
        }
        return fill(template, error.context)
    }

    /// `{key}` replaced by the context's value (or a default); nil when one is missing.
    package static func fill(_ template: String, _ context: VaultError.Context) -> String? {
        var out = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else { break }
            let key = String(rest[rest.index(after: open)..<close])
            guard key.allSatisfy({ $0.isLetter || $0 == "_" }), !key.isEmpty else {
                out += rest[...open]; rest = rest[rest.index(after: open)...]; continue
            }
            let flag = key == "flag" ? context["input"].flatMap { input in flags.first { $0.input == input }?.flag } : nil
            guard let value = flag ?? context[key] ?? defaults.first(where: { $0.key == key })?.value else { return nil }
            out += rest[..<open] + value
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    /// Hints that depend on more than the code.
    package static func specialHint(_ e: VaultError) -> String? {
        let c = e.context
        switch key(e) {
        case "io.create" where c["errno"] == String(EEXIST): return "it already exists; vault never overwrites it"
        case "exec.spawn" where c["errno"] != String(ENOENT): return nil
        case "entra.throttled":
            if let wait = c["retry_after"], let most = c["max_wait"] {
                return "try again in \(wait); vault waits on its own only up to \(most) (--max-wait)"
            }
            return "too many token requests; try again later, and let vault's token cache serve repeated calls"
        case "graph.forbidden", "rotation.permission":
            switch c["permission"] {
            case "own_credentials":
                return "grant the app Application.ReadWrite.OwnedBy and add its service principal as an owner of the app registration (or grant Application.ReadWrite.All), with admin consent; or rotate by hand with `vault rotate-secret APP --manual`"
            case "read_applications": return "grant the app the application permission Application.Read.All (or Directory.Read.All), with admin consent"
            case "read_users": return "grant the app the application permission User.Read.All (or Directory.Read.All) in its API permissions, and admin consent"
            default: return "the app lacks the application permission this call needs, or admin consent for it"
            }
        case "rotation.no_certificate":
            guard let app = c["app"] else { return nil }
            if c["has_certificate"] == "yes" { return "it is set to use its secret: `vault add-app \(app) … --use certificate --replace --keep-credential`" }
            return "add one with `vault add-app \(app) --generate-certificate … --replace --keep-credential`, upload it, then rotate"
        case "cert.key_missing" where c["keys"] == "0": return "pass the key file with --key FILE"
        case "rotation.stale" where c["leftover"] != nil:
            guard let app = c["app"], let left = c["leftover"] else { return nil }
            return "drop it with `vault \(c["command"] ?? "rotate-secret") \(app) --abandon`, then remove \(c["leftover_kind"] ?? "password") \(left) from the app registration if it is still there"
        case "rotation.unproven":
            if c["kind"] == "certificate" { return "a new key may take longer to propagate: try again with a longer --propagation-timeout" }
            if c["kind"] == "federated", let cause = c["cause"] {
                // What Entra said of the new credential is what to fix (the issuer's documents, its keys, the claims).
                var inner: VaultError.Context = [:]
                for p in c.pairs where p.key.hasPrefix("cause.") { inner[String(p.key.dropFirst(6))] = p.value }
                if let why = hint(VaultError(.init(cause), "", context: inner)) { return why }
            }
            return "check the app's sign-in and Graph permissions, then try again"
        default: return nil
        }
    }
}
