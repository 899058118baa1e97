import ArgumentParser
import EntraAuth
import VaultCLI
import VaultCore
import VaultErrors
import VaultTokens
import VaultRotation
import VaultCrypto
import VaultStore
import VaultFormat
import VaultRecords

extension Cloud: ExpressibleByArgument {}

package struct AddAppCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "add-app",
        abstract: "Store an Entra ID app with its client secret or certificate.",
        discussion: """
        The client secret is read from a hidden prompt, or from stdin when it is piped:
          printf %s "$SECRET" | vault add-app NAME --tenant TENANT --client-id GUID
        No option takes a secret value, so it never lands in shell history or a process list.

        --authority takes MSAL's form, https://login.microsoftonline.com/TENANT (then --tenant may be left out), or a \
        bare host. Known clouds: global (login.microsoftonline.com, graph.microsoft.com), usgov (login.microsoftonline.us, \
        graph.microsoft.us), usdod (login.microsoftonline.us, dod-graph.microsoft.us), china \
        (login.partner.microsoftonline.cn or login.chinacloudapi.cn, microsoftgraph.chinacloudapi.cn). Any other host \
        needs --allow-custom-endpoint, and a custom Graph host gets tokens only for a --scope you store.

        Certificates (what Microsoft recommends for daemon apps): --generate-certificate makes the key pair inside the \
        vault and writes only the public certificate (--public-out) for upload in the portal; --certificate imports a \
        PEM (with --key for a separate key file) or a PFX. The private key never leaves the vault.
          vault add-app NAME --client-id GUID --authority URL --generate-certificate --public-out NAME.cer

        Secretless (workload identity federation): --federated SOURCE stores no secret or key; the app proves itself \
        with an external issuer's token, matched by a federated credential on the app registration. SOURCE is \
        file:PATH (a token file another program keeps fresh: a Kubernetes projected token, AZURE_FEDERATED_TOKEN_FILE, \
        tbot) or backend:NAME/ROLE (an identity token of role ROLE from the OpenBao / HashiCorp Vault stored with \
        `vault backend add NAME`). The token is read at each token fetch, never on a cache hit.
          vault add-app NAME --tenant TENANT --client-id GUID --federated file:/var/run/secrets/azure/tokens/azure-identity-token

        Moving an MSAL sample daemon? `vault add-app NAME --from-msal-config parameters.json [--shred]` reads its \
        authority, client_id, secret, scope and endpoint.
        """
    )

    @OptionGroup package var options: VaultOptions

    @Argument(help: "A name for the app (letters, digits, '-', '_', '.').")
    package var name: String

    @Option(help: ArgumentHelp("Tenant GUID or verified domain (optional when --authority names it).", valueName: "tenant"))
    package var tenant: String?

    @Option(name: .customLong("client-id"), help: ArgumentHelp("Application (client) ID.", valueName: "guid"))
    package var clientID: String?

    @Option(help: "Cloud: global, usgov, usdod or china (default: the one --authority/--graph name, else global).")
    package var cloud: Cloud?

    @Option(help: ArgumentHelp("Authority: https://HOST/TENANT (MSAL's form) or https://HOST.", valueName: "url"))
    package var authority: String?

    @Option(help: ArgumentHelp("Graph root URL, overriding the cloud's (a /v1.0 suffix is dropped).", valueName: "url"))
    package var graph: String?

    @Option(help: ArgumentHelp("Scope for Graph calls and `vault token` (default: the Graph host's /.default).", valueName: "scope"))
    package var scope: String?

    @Flag(name: .customLong("allow-custom-endpoint"), help: "Accept an authority or Graph host outside the known clouds (an emulator, a proxy).")
    package var allowCustomEndpoint = false

    @Option(name: .customLong("from-msal-config"), help: ArgumentHelp("Read authority, client_id, secret, scope and endpoint from an MSAL sample's JSON parameters file.", valueName: "file"))
    package var msalConfig: String?

    @Flag(help: "With --from-msal-config or --certificate: overwrite, fsync and delete the file holding the secret or private key once the app is stored.")
    package var shred = false

    @OptionGroup(title: "Certificate credential") package var certificate: CertificateOptions

    @Option(help: ArgumentHelp("When the app holds a secret and a certificate: which one tokens are fetched with (default: certificate).", valueName: "certificate|secret"))
    package var use: String?

    @Flag(name: .customLong("keep-credential"), help: "With --replace: keep the stored app's other credential (its secret when a certificate is given, its certificate when a secret is).")
    package var keepCredential = false

    @Option(help: ArgumentHelp("Keep the secret in this fleet backend (`vault backend add`), at TENANT/NAME, not in this vault.", valueName: "backend"))
    var backend: String?
    @Option(name: .customLong("from-backend"), help: ArgumentHelp("Enrol this host for an app already kept in this backend (with --tenant).", valueName: "backend"))
    var fromBackend: String?
    @Option(help: ArgumentHelp("Store no secret: prove the app with an external issuer's token from file:PATH or backend:NAME/ROLE (a federated credential).", valueName: "source"))
    var federated: String?
    @Flag(help: "Overwrite an app stored under the same name.")
    var replace = false

    package func validate() throws {
        if shred && msalConfig == nil && certificate.certificateFile == nil { throw ValidationError("--shred works only with --from-msal-config or --certificate") }
        if keepCredential && !replace { throw ValidationError("--keep-credential works only with --replace") }
        if let use, use != "certificate", use != "secret" { throw ValidationError("--use takes certificate or secret") }
        if msalConfig == nil && fromBackend == nil && clientID == nil { throw ValidationError("missing --client-id (or --from-msal-config FILE, or --from-backend NAME)") }
    }

    func runBackend() throws {
        guard msalConfig == nil, !certificate.given, !keepCredential, use == nil else {
            throw VaultError("usage", "--backend and --from-backend keep a client secret in the backend; certificates, --from-msal-config, --use and --keep-credential do not combine with them")
        }
        let vault = try options.vault()
        try vault.directory.checkPermissions()
        if let from = fromBackend {
            guard backend == nil, let tenant else {
                throw VaultError("usage", "--from-backend needs --tenant (the app's path in the backend is TENANT/NAME) and no --backend")
            }
            guard clientID == nil, authority == nil, graph == nil, scope == nil, cloud == nil else {
                throw VaultError("usage", "--from-backend takes the app's client id and endpoints from the backend; leave out --client-id, --authority, --graph, --scope and --cloud")
            }
            let meta = try BackendAddApp(vault: vault, unlock: try options.credential())
                .enrol(name: name, tenant: tenant, backend: from, allowCustomEndpoint: allowCustomEndpoint, replace: replace)
            Console.out("Enrolled this host for app '\(name)' (client id \(meta.clientID), tenant \(meta.tenant)) kept in backend '\(from)' at \(meta.backendPath ?? "")")
            return
        }
        let app = AppRegistration(name: name, tenant: tenant, clientID: clientID ?? "", cloud: cloud, authority: authority,
                                  graphRoot: graph, scope: scope, allowCustomEndpoint: allowCustomEndpoint)
        try app.validate()
        let secret = try Prompts.clientSecret(for: name)
        let meta = try BackendAddApp(vault: vault, unlock: try options.credential()).create(app, secret: secret, backend: backend!, replace: replace)
        Console.out("Stored app '\(name)' (client id \(meta.clientID), tenant \(meta.tenant), secret hint \(meta.secretHint)…) in backend '\(backend!)' at \(meta.backendPath ?? "") (version \(meta.backendVersion ?? 0)); this vault keeps no copy of the secret")
    }

    func runFederated(_ source: String) throws {
        guard msalConfig == nil, !certificate.given, !keepCredential, use == nil, backend == nil, fromBackend == nil, !shred else {
            throw VaultError("usage", "--federated stores no secret or certificate: --from-msal-config, certificates, --use, --keep-credential, --shred, --backend and --from-backend do not combine with it")
        }
        let app = AppRegistration(name: name, tenant: tenant, clientID: clientID ?? "", cloud: cloud, authority: authority,
                                  graphRoot: graph, scope: scope, allowCustomEndpoint: allowCustomEndpoint)
        // What is typed is checked before the vault is opened.
        try app.validate()
        _ = try FederatedAddApp.source(source)
        let vault = try options.vault()
        try vault.directory.checkPermissions()
        if !vault.directory.exists {
            throw VaultError("vault.missing", "no vault at \(vault.directory.path)")
        }
        let outcome = try FederatedAddApp(vault: vault, unlock: try options.credential()).run(app, source: source, replace: replace)
        let meta = outcome.metadata
        Console.out("Stored app '\(meta.name)' (client id \(meta.clientID), tenant \(meta.tenant), federated credential from \(meta.federated ?? source)); no secret is kept")
        for note in outcome.notes { Console.warn(note) }
        Console.hint("`vault token \(meta.name)` works once the app registration has a federated credential for the token's issuer and subject (a new one may take a few minutes to propagate)")
    }

    package func run() throws {
        if let federated { return try runFederated(federated) }
        if backend != nil || fromBackend != nil { return try runBackend() }
        var app = AppRegistration(name: name, tenant: tenant, clientID: clientID ?? "", cloud: cloud, authority: authority,
                                  graphRoot: graph, scope: scope, allowCustomEndpoint: allowCustomEndpoint)
        var fileSecret: SecretBytes?
        var configExposed = false
        if let msalConfig {
            let bytes = try FileSystem.readVerified(msalConfig, rule: .init(what: "MSAL parameters file", privateRead: false), limit: 1 << 20)
            configExposed = (FileSystem.status(msalConfig)?.mode ?? 0) & 0o044 != 0
            let config = try MSALConfigFile.parse(bytes, path: msalConfig)
            // Options typed on the command line win over the file, but must not contradict it.
            func merge(_ option: String?, _ fromFile: String?, _ flag: String) throws -> String? {
                if let option, let fromFile, option.lowercased() != fromFile.lowercased() {
                    throw VaultError("msal_config.conflict", "\(flag) '\(option)' differs from the file's '\(fromFile)'", context: ["flag": flag])
                }
                return option ?? fromFile
            }
            app.clientID = try merge(clientID, config.clientID, "--client-id") ?? ""
            app.authority = try merge(authority, config.authority, "--authority")
            app.graphRoot = try merge(graph, config.graphRoot, "--graph")
            app.scope = try merge(scope, config.scope, "--scope")
            try Prompts.validateSecret(config.secret)
            fileSecret = config.secret
        }
        // Validate what is typed before asking for anything secret.
        try app.validate()
        try certificate.check(appName: name)
        let vault = try options.vault()
        try vault.directory.checkPermissions()
        if !vault.directory.exists {
            throw VaultError("vault.missing", "no vault at \(vault.directory.path)")
        }
        var exposed: [String] = []
        let cert = try certificate.load(appName: name, exposed: &exposed)
        // A certificate is the credential; a secret is asked for only when none is given (or comes from the file).
        let secret = try fileSecret ?? (cert == nil ? Prompts.clientSecret(for: name) : nil)
        let unlock = try options.credential()
        // The public certificate is written before the vault is changed, and removed again if storing fails.
        if let publicOut = certificate.publicOut, let cert {
            let pem = Array(cert.credential.certificate.pem.utf8)
            try pem.withUnsafeBytes { try FileSystem.createExclusive(publicOut, bytes: $0, mode: 0o644) }
        }
        let meta: AppMetadata
        do {
            meta = try AddApp(vault: vault).run(app, secret: secret, certificate: cert, use: use, keepExisting: keepCredential,
                                                unlock: unlock, replace: replace)
        } catch {
            if let publicOut = certificate.publicOut, cert != nil { try? FileSystem.remove(publicOut) }
            throw error
        }
        let held = [meta.certificate != nil ? "certificate \(meta.certificateSHA1 ?? "")" : nil,
                    meta.secretHint.isEmpty ? nil : "secret hint \(meta.secretHint)…"].compactMap { $0 }.joined(separator: ", ")
        Console.out("Stored app '\(meta.name)' (client id \(meta.clientID), tenant \(meta.tenant), \(held))")
        if meta.certificate != nil && !meta.secretHint.isEmpty {
            Console.out("Tokens are fetched with its \(meta.usesCertificate ? "certificate" : "client secret") (--use to change).")
        }
        if cert != nil {
            for (k, v) in CertificateInput.describe(meta) { Console.out("  \(k):" + String(repeating: " ", count: max(1, 14 - k.count)) + v) }
        }
        if let publicOut = certificate.publicOut, cert != nil {
            Console.out("Wrote the public certificate to \(publicOut). Upload it to the app registration (Entra admin center: App registrations → \(meta.clientID) → Certificates & secrets → Certificates → Upload certificate); the private key stays in the vault.")
            Console.hint("`vault token \(meta.name)` works once Entra ID shows thumbprint \(meta.certificateSHA1 ?? "") on the app (a new upload may take a minute to propagate)")
        }
        if !exposed.isEmpty {
            Console.warn("\(exposed.joined(separator: ", ")) was readable by other users: treat the private key as exposed and replace the certificate")
        }
        if certificate.certificateFile != nil {
            if shred {
                for f in Set(certificate.keyFiles) { try FileSystem.shred(f) }
                Console.out("Overwrote and deleted \(Set(certificate.keyFiles).sorted().joined(separator: ", ")). Copies elsewhere (backups, git history) may still hold the private key; on copy-on-write or flash storage old blocks may survive too.")
            } else {
                Console.warn("\(certificate.keyFiles.joined(separator: ", ")) still holds the private key; the vault has its own copy now")
                Console.hint("once `vault token \(name)` works, delete it: `shred -u \(certificate.keyFiles.joined(separator: " "))` (or pass --shred next time)")
            }
        }
        if let endpoints = try? AppEndpoints.stored(cloud: meta.cloud, authority: meta.authority, graph: meta.graphRoot), endpoints.isCustom {
            Console.warn("'\(meta.name)' uses a custom endpoint (\(endpoints.authority.origin), Graph \(endpoints.graph)): its \(meta.certificate == nil ? "secret" : "certificate assertions") and tokens go there")
        }
        guard let msalConfig else { return }
        if shred {
            try FileSystem.shred(msalConfig)
            Console.out("Overwrote and deleted \(msalConfig). Copies elsewhere (backups, git history, editor swap files) still hold the secret; on copy-on-write or flash storage old blocks may survive too.")
        } else {
            Console.warn("\(msalConfig) still holds the client secret in plain text")
            Console.hint("once `vault token \(name)` works, delete it: `shred -u \(msalConfig)` (next time, pass --shred and vault does it)")
        }
        if configExposed {
            Console.warn("\(msalConfig) was readable by other users: treat the secret as exposed and rotate it (`vault rotate-secret \(name)`)")
        }
    }
}
