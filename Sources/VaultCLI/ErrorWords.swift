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
            return "check the app's sign-in and Graph permissions, then try again"
        default: return nil
        }
    }

    /// Every code and its words.
    package static func words(_ code: String) -> Words {
        switch code {
        case "agent": return Words(.unavailable, nil)
        case "agent.signals": return Words(.software, nil)
        case "agent.start:spawn": return Words(.unavailable, nil)
        case "agent.start": return Words(.unavailable, "run `vault agent` in a terminal to see why")
        case "app.client_id": return Words(.usage, "use the app registration's Application (client) ID")
        case "app.cloud:authority": return Words(.usage, "tokens are not interchangeable between clouds: pass --cloud {cloud}, or the matching authority")
        case "app.cloud:graph": return Words(.usage, "tokens are not interchangeable between clouds: pass --cloud {cloud}, or the matching Graph")
        case "app.cloud:stored": return Words(.dataError, "re-add the app with `vault add-app --replace`")
        case "app.conflict": return Words(.usage, nil)
        case "app.custom_endpoint": return Words(.usage, "known: {clouds}. Pass --allow-custom-endpoint if this host really should receive the app's secret or tokens (an emulator, say)")
        case "usage:app_use": return Words(.usage, "--use takes certificate or secret, and the credential must be stored")
        case "app.exists": return Words(.usage, "pass --replace to overwrite it, or choose another name")
        case "app.name": return Words(.usage, "use 1–64 letters, digits, '-', '_' or '.', not starting with '-' or '.'")
        case "app.no_credential": return Words(.dataError, "store one again: `vault add-app {app} … --replace`")
        case "app.no_credential:input": return Words(.usage, nil)
        case "app.tenant": return Words(.usage, "use the Directory (tenant) ID or a domain such as contoso.onmicrosoft.com")
        case "app.tenant:conflict": return Words(.usage, "drop --tenant (the authority names it), or fix one of them")
        case "app.tenant:missing": return Words(.usage, "pass --tenant TENANT, or an authority of the form https://HOST/TENANT")
        case "app.tenant:not_app_only": return Words(.usage, "give the tenant's GUID or a verified domain such as contoso.onmicrosoft.com")
        case "app.unknown": return Words(.usage, "`vault list` shows the stored apps")
        case "app.unknown:keep": return Words(.usage, "leave out the --keep-… option")
        case "app.unknown:vanished": return Words(.dataError, nil)
        case "app.url": return Words(.usage, "use an https:// URL without user name, query or fragment (plain http only for 127.0.0.1/localhost)")
        case "app.url:authority": return Words(.usage, "give MSAL's form https://HOST/TENANT, or the bare host https://HOST")
        case "app.url:stored": return Words(.dataError, "vault will not send the secret there; re-add the app with `vault add-app --replace`")
        case "audit.no_space": return Words(.ioError, nil)
        case "audit.open": return Words(.ioError, nil)
        case "audit.open:permissions": return Words(.noPermission, "chmod 600 {path}")
        case "audit.rotate": return Words(.ioError, nil)
        case "audit.stderr": return Words(.usage, "read it with journalctl, or unset VAULT_AUDIT_LOG")
        case "audit.write": return Words(.ioError, nil)
        case "backend.address": return Words(.usage, nil)
        case "backend.app": return Words(.dataError, nil)
        case "backend.app_damaged": return Words(.dataError, nil)
        case "backend.app_exists": return Words(.usage, "enrol this host for it with `vault add-app {app} --from-backend BACKEND --tenant {tenant}`")
        case "backend.app_missing": return Words(.noInput, "store it once from one host: `vault add-app NAME --backend BACKEND …`")
        case "backend.app_missing:app_vanished": return Words(.dataError, nil)
        case "backend.damaged": return Words(.dataError, nil)
        case "backend.error": return Words(.unavailable, nil)
        case "backend.exists": return Words(.usage, "choose another name, or pass --replace")
        case "backend.forbidden": return Words(.noPermission, "the host's policy needs a rule for path \"{path}\"")
        case "backend.lagging": return Words(.tempFailure, "try again in a moment")
        case "backend.login": return Words(.usage, nil)
        case "backend.mount": return Words(.usage, "--mount takes a KV mount path such as secret")
        case "backend.none": return Words(.config, nil)
        case "backend.prefix": return Words(.usage, "--prefix takes a path prefix such as vault/apps")
        case "backend.redirect": return Words(.unavailable, "list every node's address in --address")
        case "backend.renew": return Words(.unavailable, nil)
        case "backend.response": return Words(.dataError, nil)
        case "backend.rotation_damaged": return Words(.dataError, "inspect it with `bao kv get`; vault will not guess who holds the rotation")
        case "backend.sealed": return Words(.tempFailure, "unseal it, or list the other nodes' addresses")
        case "backend.throttled": return Words(.tempFailure, "try again later")
        case "backend.unknown": return Words(.usage, "`vault backend list` shows the stored ones")
        case "backend.unknown:stored": return Words(.config, "add it again with `vault backend add {backend} …`")
        case "backend.unwrap": return Words(.noPermission, "ask for a new wrapped secret id")
        case "backend.unwrap:answer": return Words(.dataError, nil)
        case "backend.unwrap:input": return Words(.usage, nil)
        case "backend.unwrap:substituted": return Words(.noPermission, "someone may have substituted the token; ask for a new wrapped secret id (auth/approle/role/NAME/secret-id)")
        case "cache.format": return Words(.dataError, nil)
        case "cache.full": return Words(.dataError, "`vault cache clear {app}`")
        case "cache.import": return Words(.dataError, nil)
        case "cache.stale_key": return Words(.tempFailure, nil)
        case "cert.expired:input": return Words(.dataError, "make a new one (`--generate-certificate`) or export a current one")
        case "cert.expired:rotation": return Words(.noPermission, "make a new one with `vault add-app {app} --generate-certificate --public-out {app}.cer --replace …` and upload it in the portal")
        case "cert.expired:stored": return Words(.noPermission, "rotate before expiry next time (`vault status` warns, `vault rotate-cert {app}`); now make a new one with `vault add-app {app} --generate-certificate --public-out {app}.cer --replace --keep-credential …` and upload it")
        case "cert.invalid": return Words(.dataError, nil)
        case "cert.key_encrypted": return Words(.dataError, "export it as a PFX (`openssl pkcs12 -export -in cert.pem -inkey key.pem -out app.pfx`) and import that; vault asks for its password")
        case "cert.key_invalid": return Words(.dataError, nil)
        case "cert.key_missing": return Words(.dataError, nil)
        case "cert.key_size": return Words(.usage, "--key-size takes 2048, 3072 or 4096")
        case "cert.key_size:input": return Words(.dataError, "make a new one: `vault add-app NAME --generate-certificate --key-size 3072 …`")
        case "cert.mismatch": return Words(.dataError, "pass the key that was made with this certificate (--key FILE), or the PFX exported with it")
        case "cert.missing": return Words(.dataError, nil)
        case "cert.none": return Words(.usage, "add one: `vault add-app {app} --generate-certificate --public-out {app}.cer --replace --keep-credential …`")
        case "cert.not_rsa": return Words(.dataError, nil)
        case "cert.pfx": return Words(.dataError, nil)
        case "cert.pfx:password": return Words(.dataError, "check the password (it is read from the hidden prompt or stdin)")
        case "cert.pfx:password_nul": return Words(.usage, nil)
        case "cert.pfx_library": return Words(.unavailable, "install it (`apt install libssl3`), or import the certificate and key as PEM")
        case "cert.sign": return Words(.software, nil)
        case "cert.stored": return Words(.dataError, nil)
        case "cert.subject": return Words(.usage, "write --subject as as CN=NAME[, O=ORG][, OU=UNIT][, C=CC][, ST=STATE][, L=CITY]")
        case "cert.subject:attribute": return Words(.usage, "--subject takes CN, O, OU, C, ST or L")
        case "cert.subject:syntax": return Words(.usage, "write --subject as as CN=NAME[, O=ORG][, OU=UNIT][, C=CC][, ST=STATE][, L=CITY]")
        case "cert.validity": return Words(.usage, nil)
        case "confirm.none": return Words(.usage, "pass --yes")
        case "crypto.aead": return Words(.software, nil)
        case "crypto.hash": return Words(.software, nil)
        case "crypto.init": return Words(.software, nil)
        case "crypto.kdf": return Words(.software, nil)
        case "crypto.pwhash": return Words(.unavailable, nil)
        case "crypto.salt": return Words(.software, nil)
        case "entra.assertion_issuer": return Words(.config, "check the app's --client-id with `vault show {app}`")
        case "entra.assertion_time": return Words(.config, "this host's clock is probably wrong: check it (timedatectl, chrony); assertions are valid for 10 minutes from now")
        case "entra.expired_secret": return Words(.noPermission, "create a new secret in the app registration and store it with `vault add-app {app} … --replace`; `vault status` warns before expiry")
        case "entra.http": return Words(.unavailable, "a proxy or gateway may be in the way; check https_proxy / no_proxy and the authority URL")
        case "entra.invalid_scope": return Words(.usage, "app-only tokens need exactly one scope of the form RESOURCE/.default, e.g. https://graph.microsoft.com/.default")
        case "entra.invalid_secret": return Words(.noPermission, "the stored secret is wrong, or was replaced outside vault: store the current one with `vault add-app {app} … --replace` or rotate with `vault rotate-secret {app}`")
        case "entra.missing_credential": return Words(.unavailable, "the request lacked client_secret and client_assertion; a proxy may be stripping the body")
        case "entra.not_found": return Words(.config, "check the app's authority with `vault show {app}`: it must be the login host, or MSAL's https://HOST/TENANT; re-add with `vault add-app {app} --authority … --replace`")
        case "entra.response": return Words(.unavailable, "the authority is not behaving like Entra ID; check --authority and any proxy")
        case "entra.throttled": return Words(.tempFailure, nil)
        case "entra.unknown_app": return Words(.config, "check --client-id and --tenant (and that the app is registered or consented in that tenant)")
        case "entra.unknown_certificate": return Words(.noPermission, "upload the certificate (`vault show {app} --certificate-pem > app.cer`, then the portal's Certificates & secrets) and compare its thumbprint with `vault show {app}`; a certificate uploaded moments ago may need a minute to propagate")
        case "entra.unknown_resource": return Words(.config, "check the resource URI in --scope")
        case "entra.unknown_tenant": return Words(.config, "check --tenant (a GUID or verified domain) and --cloud")
        case "entra.wrong_tenant": return Words(.dataError, "check the app's --tenant and --authority; vault will not use a token of another tenant")
        case "exec.cwd": return Words(.usage, "run vault exec from another directory")
        case "exec.isolation:hide": return Words(.unavailable, "pass --no-isolation to run it without (it can then reach the vault)")
        case "exec.isolation": return Words(.noPermission, "run vault as the program's own user, or drop --require-isolation")
        case "exec.isolation:userns": return Words(.noPermission, "user namespaces are off here (sysctl user.max_user_namespaces, or an AppArmor or seccomp policy); run the program under `vault serve` as its own system user, or drop --require-isolation")
        case "exec.signals": return Words(.software, nil)
        case "exec.spawn": return Words(.unavailable, "is it installed and on the PATH?")
        case "exec.spawn:start": return Words(.unavailable, nil)
        case "file.not_regular": return Words(.noPermission, "point at a plain file (not a directory, FIFO or device)")
        case "file.owner": return Words(.noPermission, "only a file owned by you or root is trusted: `chown {user} {path}` (as root), or use your own copy")
        case "file.permissions": return Words(.noPermission, "chmod go-w {path}")
        case "file.symlink": return Words(.noPermission, "give the file's own path (`readlink -f {path}` prints it)")
        case "format.kdf_params": return Words(.dataError, "refusing to run Argon2id with these parameters; the vault file is damaged or hostile")
        case "graph.bad_request": return Words(.dataError, nil)
        case "graph.credential_lifetime_policy": return Words(.dataError, "ask for a shorter secret with --expires-in (e.g. --expires-in 90d), as the policy allows")
        case "graph.forbidden": return Words(.noPermission, nil)
        case "graph.foreign_link": return Words(.dataError, "vault sends the app's token only to its Graph root")
        case "graph.not_found": return Words(.dataError, nil)
        case "graph.not_implemented": return Words(.dataError, "the request uses a feature Graph does not offer for this resource; change the query")
        case "graph.object_too_large": return Words(.dataError, "remove unused secrets or certificates from the app registration, then try again")
        case "graph.paging:limit": return Words(.dataError, "narrow the query with --filter or --max")
        case "graph.paging:loop": return Words(.dataError, "the server is not behaving like Graph; check --graph and any proxy")
        case "graph.redirect": return Words(.dataError, nil)
        case "graph.redirect:origin": return Words(.dataError, "pass --follow to fetch it (vault never sends the app's token to another origin)")
        case "graph.redirect_target": return Words(.dataError, nil)
        case "graph.response": return Words(.dataError, "the server is not behaving like Graph; check --graph and any proxy")
        case "graph.response:rotation": return Words(.dataError, "a proxy or server is answering for Graph; check --graph and the CA bundle")
        case "graph.server": return Words(.tempFailure, nil)
        case "graph.throttled": return Words(.tempFailure, "Graph is throttling or unavailable; try again later")
        case "graph.unauthorized": return Words(.noPermission, "the token was not accepted; `vault cache clear` and try again, and check the app's tenant and cloud")
        case "graph.unavailable": return Words(.tempFailure, "Graph is throttling or unavailable; try again later")
        case "graph.unsupported_query": return Words(.dataError, "the docs' filter table lists which property and operator pairs Graph supports for users")
        case "handout.no_scope": return Words(.usage, "pass --allow-resource URI (repeatable), or store a scope with `vault add-app {app} --scope RESOURCE/.default --replace …`")
        case "http.connect": return Words(.unavailable, "check the network, proxy settings (https_proxy, no_proxy) and the authority/graph URL")
        case "http.header": return Words(.usage, nil)
        case "http.init": return Words(.unavailable, "install Debian's libcurl4 (apt-get install libcurl4)")
        case "http.init:curl": return Words(.software, nil)
        case "http.insecure": return Words(.usage, "use an https:// URL")
        case "http.setup": return Words(.software, nil)
        case "http.timeout": return Words(.tempFailure, "the service may be slow or unreachable; try again later")
        case "http.tls": return Words(.unavailable, "for a private CA (the emulator's ca.pem) pass --ca-bundle FILE or set VAULT_CA_BUNDLE")
        case "http.too_large": return Words(.dataError, nil)
        case "internal": return Words(.software, nil)
        case "io.read:changed": return Words(.ioError, "try again")
        case "io.create": return Words(.ioError, nil)
        case "io.create:public_out": return Words(.usage, "choose another --public-out path")
        case "io.fsync": return Words(.ioError, nil)
        case "io.lock": return Words(.ioError, nil)
        case "io.missing": return Words(.noInput, nil)
        case "io.mkdir": return Words(.ioError, nil)
        case "io.read": return Words(.ioError, nil)
        case "io.remove": return Words(.ioError, nil)
        case "io.rename": return Words(.ioError, nil)
        case "io.shred": return Words(.ioError, nil)
        case "io.spool": return Words(.ioError, "check that $TMPDIR (or /tmp) is writable")
        case "io.stdin": return Words(.ioError, nil)
        case "io.read:too_large": return Words(.dataError, nil)
        case "io.write": return Words(.ioError, nil)
        case "keyfile.permissions": return Words(.noPermission, "chmod 600 {path}")
        case "keyfile.size": return Words(.dataError, "a key file holds 32 random bytes; `vault key add-file PATH` makes one")
        case "msal_config.conflict": return Words(.usage, "leave {flag} out to use the file's value")
        case "msal_config.invalid": return Words(.dataError, "it needs \"authority\", \"client_id\" and \"secret\" (or \"client_secret\"); optional \"scope\" and \"endpoint\"")
        case "passphrase.empty": return Words(.dataError, nil)
        case "passphrase.mismatch": return Words(.usage, "nothing was changed; run the command again")
        case "passphrase.short": return Words(.usage, "choose a longer one, or use a key file for unattended use")
        case "pem.invalid": return Words(.dataError, nil)
        case "realm.skip": return Words(.software, nil)
        case "rekey.credentials": return Words(.usage, "pass every remaining key file with --with-key-file and passphrase file with --with-passphrase-file (or type the passphrase when asked), or remove the slot first")
        case "rotation.busy": return Words(.tempFailure, "let it finish (`vault status {app}` shows the pending rotation); nothing was changed")
        case "rotation.busy:rekey": return Words(.tempFailure, "try again when it has finished")
        case "rotation.busy:remove": return Words(.tempFailure, "let it finish, then remove the app")
        case "rotation.fleet:certificate": return Words(.usage, "rotate its secret for the whole fleet with `vault rotate-secret {app}`")
        case "rotation.fleet:manual": return Words(.usage, "write the new secret to the backend at {backend_path} (key secret) with check-and-set")
        case "rotation.in_progress": return Words(.tempFailure, "let it finish: every host keeps using the current secret meanwhile, and `vault status {app}` shows the fleet rotation; nothing was changed")
        case "rotation.journal": return Words(.software, nil)
        case "rotation.journal:incomplete": return Words(.dataError, nil)
        case "rotation.manual_refused": return Words(.software, "paste the secret's Value (not its ID); a secret made seconds ago may need --propagation-timeout 120")
        case "rotation.no_certificate": return Words(.usage, nil)
        case "rotation.no_secret": return Words(.usage, "rotate its certificate with `vault rotate-cert {app}`")
        case "rotation.patch_lost": return Words(.dataError, "check the app's certificates in the portal, then `vault rotate-cert {app} --resume` or `--abandon`")
        case "rotation.patch_unsafe": return Words(.unavailable, "add the certificate in the portal instead (`vault add-app {app} --generate-certificate --public-out {app}.cer --replace --keep-credential …`)")
        case "rotation.pending": return Words(.tempFailure, "finish it with `vault {command} {app} --resume`, or roll it back with `vault {command} {app} --abandon`")
        case "rotation.permission": return Words(.noPermission, nil)
        case "rotation.stale:prepared": return Words(.tempFailure, "run it again: `vault rotate-secret {app}`")
        case "rotation.stale": return Words(.dataError, "drop it with `vault {command} {app} --abandon`")
        case "rotation.superseded": return Words(.tempFailure, "`vault status {app}` shows where the rotation stands")
        case "rotation.unfinished": return Words(.tempFailure, "run `vault rotate-secret {app} --resume` again in a few minutes")
        case "rotation.unproven": return Words(.software, nil)
        case "rotation.unregistered": return Words(.config, "upload it first (`vault show {app} --certificate-pem`), or store the certificate the app holds")
        case "scope.invalid": return Words(.usage, "app-only tokens take one scope of the form RESOURCE/.default, e.g. https://graph.microsoft.com/.default")
        case "scope.none": return Words(.usage, "pass --scope RESOURCE/.default, or store one: `vault add-app {app} --scope RESOURCE/.default --replace …`")
        case "secret.chars": return Words(.usage, "paste the secret's Value (not its Secret ID), without quotes")
        case "secret.empty": return Words(.usage, "pipe it in: printf %s \"$SECRET\" | vault add-app …")
        case "secret.long": return Words(.usage, nil)
        case "serve.header": return Words(.dataError, "make one: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > FILE")
        case "serve.listen": return Words(.usage, "write the socket unit's ListenStream=127.0.0.1:PORT, or a Unix socket path")
        case "serve.metrics_listen": return Words(.unavailable, "choose a free port or another socket path for --metrics-listen")
        case "serve.no_header": return Words(.usage, "pass --identity-header-file FILE (32 or more random characters), or a systemd credential named identity-header")
        case "serve.signals": return Words(.software, nil)
        case "slots.full": return Words(.usage, "remove one with `vault key remove`")
        case "slots.last": return Words(.usage, "add another slot first (`vault key add-file` or `vault passwd --add`)")
        case "slots.last:none": return Words(.usage, nil)
        case "slots.unknown": return Words(.usage, "`vault key list` shows the slot ids")
        case "terminal.none": return Words(.usage, "run in a terminal, or give the value another way (see `vault help`)")
        case "terminal.too_long": return Words(.usage, nil)
        case "unlock.failed:agent": return Words(.noPermission, nil)
        case "unlock.agent_stale": return Words(.noPermission, "run `vault lock`, then `vault unlock` again")
        case "unlock.failed": return Words(.noPermission, nil)
        case "unlock.no_source": return Words(.usage, "pass --key-file or --passphrase-file, set VAULT_PASSPHRASE_FILE, or use a systemd credential named vault-passphrase or vault-key")
        case "usage": return Words(.usage, nil)
        case "usage:cache_format": return Words(.usage, "the only format is msal")
        case "usage:command_line": return Words(.usage, "run `vault help` or `vault help <command>`")
        case "usage:duration": return Words(.usage, "use N followed by h, d, w or y, e.g. 90d")
        case "usage:exec": return Words(.usage, "vault exec {app} -- COMMAND [ARGS…]")
        case "usage:header": return Words(.usage, "give one header per --header, as 'Name: value' on one line")
        case "usage:metrics_listen": return Words(.usage, "give --metrics-listen 127.0.0.1:PORT, [::1]:PORT or a Unix socket path such as /run/vault/metrics.sock; a remote Prometheus scrapes through node_exporter or a proxy you control")
        case "usage:report_duration": return Words(.usage, "write N followed by h, d or w, e.g. {option} 30d")
        case "usage:serve_app": return Words(.usage, "vault serve --app NAME [--app NAME…] --listen 127.0.0.1:PORT")
        case "usage:serve_listen": return Words(.usage, "pass --listen 127.0.0.1:PORT or --listen unix:PATH, or start vault from a systemd socket unit")
        case "usage:serve_loopback": return Words(.usage, "a managed-identity endpoint has no TLS: listen on 127.0.0.1 or a Unix socket")
        case "usage:valid": return Words(.usage, "use N followed by d, w or y, e.g. 1y or 90d")
        case "vault.exists": return Words(.usage, "use it, or choose another location with --vault DIR")
        case "vault.full": return Words(.dataError, "remove apps you no longer use (`vault remove`)")
        case "vault.full:v1": return Words(.dataError, nil)
        case "vault.location": return Words(.usage, "pass --vault DIR")
        case "vault.missing": return Words(.noInput, "create one with `vault init`")
        case "vault.owner": return Words(.noPermission, nil)
        case "vault.permissions": return Words(.noPermission, "chmod {mode} {path}")
        case "vault.record": return Words(.software, nil)
        case "format.empty", "format.truncated", "format.trailing", "format.header", "format.length", "format.too_large", "format.count",
             "format.record", "format.utf8", "format.damaged":
            return Words(.dataError, "restore the vault directory from a backup; vault never writes a partial file, so something else changed it")
        case "format.magic": return Words(.dataError, "check --vault / VAULT_DIR")
        case "format.version": return Words(.dataError, "upgrade vault to read it")
        case "format.flags": return Words(.dataError, "it may have been written by a newer vault: upgrade vault to read it")
        case "format.duplicate": return Words(.dataError, "restore the vault directory from a backup; vault never writes such a file")
        default:
            // Entra's own error names (`entra.invalid_request`, …): refused, or unavailable when the status says so.
            if code.hasPrefix("entra.") { return Words(.noPermission, nil, known: false) }
            return Words(.software, nil, known: false)
        }
    }
}
