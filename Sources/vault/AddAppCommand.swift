import ArgumentParser
import EntraAuth
import VaultCore
import VaultCrypto
import VaultStore

extension Cloud: ExpressibleByArgument {}

struct AddAppCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-app",
        abstract: "Store an Entra ID app and its client secret.",
        discussion: """
        The client secret is read from a hidden prompt, or from stdin when it is piped:
          printf %s "$SECRET" | vault add-app NAME --tenant TENANT --client-id GUID
        No option takes a secret value, so it never lands in shell history or a process list.

        --authority takes MSAL's form, https://login.microsoftonline.com/TENANT (then --tenant may be left out), or a \
        bare host. Known clouds: global (login.microsoftonline.com, graph.microsoft.com), usgov (login.microsoftonline.us, \
        graph.microsoft.us), usdod (login.microsoftonline.us, dod-graph.microsoft.us), china \
        (login.partner.microsoftonline.cn or login.chinacloudapi.cn, microsoftgraph.chinacloudapi.cn). Any other host \
        needs --allow-custom-endpoint, and a custom Graph host gets tokens only for a --scope you store.

        Moving an MSAL sample daemon? `vault add-app NAME --from-msal-config parameters.json [--shred]` reads its \
        authority, client_id, secret, scope and endpoint.
        """
    )

    @OptionGroup var options: VaultOptions

    @Argument(help: "A name for the app (letters, digits, '-', '_', '.').")
    var name: String

    @Option(help: ArgumentHelp("Tenant GUID or verified domain (optional when --authority names it).", valueName: "tenant"))
    var tenant: String?

    @Option(name: .customLong("client-id"), help: ArgumentHelp("Application (client) ID.", valueName: "guid"))
    var clientID: String?

    @Option(help: "Cloud: global, usgov, usdod or china (default: the one --authority/--graph name, else global).")
    var cloud: Cloud?

    @Option(help: ArgumentHelp("Authority: https://HOST/TENANT (MSAL's form) or https://HOST.", valueName: "url"))
    var authority: String?

    @Option(help: ArgumentHelp("Graph root URL, overriding the cloud's (a /v1.0 suffix is dropped).", valueName: "url"))
    var graph: String?

    @Option(help: ArgumentHelp("Scope for Graph calls and `vault token` (default: the Graph host's /.default).", valueName: "scope"))
    var scope: String?

    @Flag(name: .customLong("allow-custom-endpoint"), help: "Accept an authority or Graph host outside the known clouds (an emulator, a proxy).")
    var allowCustomEndpoint = false

    @Option(name: .customLong("from-msal-config"), help: ArgumentHelp("Read authority, client_id, secret, scope and endpoint from an MSAL sample's JSON parameters file.", valueName: "file"))
    var msalConfig: String?

    @Flag(help: "With --from-msal-config: overwrite, fsync and delete the file once the app is stored.")
    var shred = false

    @Flag(help: "Overwrite an app stored under the same name.")
    var replace = false

    func validate() throws {
        if shred && msalConfig == nil { throw ValidationError("--shred works only with --from-msal-config") }
        if msalConfig == nil && clientID == nil { throw ValidationError("missing --client-id (or --from-msal-config FILE)") }
    }

    func run() throws {
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
                    throw VaultError("msal_config.conflict", "\(flag) '\(option)' differs from the file's '\(fromFile)'",
                                     hint: "leave \(flag) out to use the file's value", exit: .usage)
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
        let vault = try options.vault()
        try vault.directory.checkPermissions()
        if !vault.directory.exists {
            throw VaultError("vault.missing", "no vault at \(vault.directory.path)", hint: "create one with `vault init`", exit: .noInput)
        }
        let secret = try fileSecret ?? Prompts.clientSecret(for: name)
        let unlock = try options.credential()
        let meta = try AddApp(vault: vault).run(app, secret: secret, unlock: unlock, replace: replace)
        Console.out("Stored app '\(meta.name)' (client id \(meta.clientID), tenant \(meta.tenant), secret hint \(meta.secretHint)…)")
        if let endpoints = try? AppEndpoints.stored(cloud: meta.cloud, authority: meta.authority, graph: meta.graphRoot), endpoints.isCustom {
            Console.warn("'\(meta.name)' uses a custom endpoint (\(endpoints.authority.origin), Graph \(endpoints.graph)): its secret and tokens go there")
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
