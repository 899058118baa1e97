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
        """
    )

    @OptionGroup var options: VaultOptions

    @Argument(help: "A name for the app (letters, digits, '-', '_', '.').")
    var name: String

    @Option(help: ArgumentHelp("Tenant GUID or verified domain.", valueName: "tenant"))
    var tenant: String

    @Option(name: .customLong("client-id"), help: ArgumentHelp("Application (client) ID.", valueName: "guid"))
    var clientID: String

    @Option(help: "Cloud: global, usgov or china.")
    var cloud: Cloud = .global

    @Option(help: ArgumentHelp("Authority host URL, overriding the cloud's (e.g. the emulator's).", valueName: "url"))
    var authority: String?

    @Option(help: ArgumentHelp("Graph root URL, overriding the cloud's.", valueName: "url"))
    var graph: String?

    @Flag(help: "Overwrite an app stored under the same name.")
    var replace = false

    func run() throws {
        let app = AppRegistration(name: name, tenant: tenant, clientID: clientID, cloud: cloud, authority: authority, graphRoot: graph)
        // Validate what is typed before asking for anything secret.
        try app.validate()
        let vault = try options.vault()
        try vault.directory.checkPermissions()
        if !vault.directory.exists {
            throw VaultError("vault.missing", "no vault at \(vault.directory.path)", hint: "create one with `vault init`", exit: .noInput)
        }
        let secret = try Prompts.clientSecret(for: name)
        let unlock = try options.credential()
        let meta = try AddApp(vault: vault).run(app, secret: secret, unlock: unlock, replace: replace)
        Console.out("Stored app '\(meta.name)' (client id \(meta.clientID), secret hint \(meta.secretHint)…)")
    }
}
