import ArgumentParser
import FleetBackend
import FoundationEssentials
import VaultCLI
import VaultCore
import VaultErrors
import VaultTokens
import VaultRotation
import VaultCrypto
import VaultHTTP
import VaultStore
import VaultFormat
import VaultRecords

package struct BackendCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "backend",
        abstract: "Fleet backends: an OpenBao / HashiCorp Vault KV v2 engine this host logs in to.",
        discussion: """
        The local vault keeps only this host's login (an AppRole secret id or a token), encrypted like an app secret. \
        Apps are kept in a backend with `add-app --backend` (once) and `add-app --from-backend` (every other host); \
        `rotate-secret` rotates such an app for the whole fleet (README "Fleets").
        """,
        subcommands: [BackendAdd.self, BackendList.self, BackendShow.self, BackendRemove.self, BackendCheck.self]
    )
}

func backendTransport(_ record: BackendRecord, verbosity: Int = 0) throws -> any HTTPTransport {
    NetworkOptions.logBackends(NetworkOptions.logger(verbosity))
    return try BackendService.transport(for: record)
}

package struct BackendAdd: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Store a backend and this host's login to it (the secret id from a file, the systemd credential backend-secret-id, stdin or a hidden prompt).",
        discussion: """
        Example: `vault backend add fleet --address https://bao1:8200,https://bao2:8200 --approle ROLE_ID < secret-id`. \
        With --wrapped the value read is a response-wrapping token, unwrapped once here. The login is tried before \
        anything is stored (--no-check skips that).
        """
    )

    @OptionGroup package var options: VaultOptions
    @Argument(help: "A name for the backend.") package var name: String
    @Option(help: ArgumentHelp("The engine's addresses, comma-separated: active node and standbys.", valueName: "url[,url…]")) var address: String
    @Option(help: ArgumentHelp("The KV version 2 mount (default secret).", valueName: "path")) var mount = "secret"
    @Option(help: ArgumentHelp("Path prefix of the apps in the mount (default entra/).", valueName: "prefix")) var prefix = "entra/"
    @Option(name: .customLong("ca-bundle"), help: ArgumentHelp("PEM file of CAs for the engine's TLS.", valueName: "file")) var caBundle: String?
    @Option(help: ArgumentHelp("Log in with AppRole, this role id.", valueName: "role-id")) var approle: String?
    @Option(name: .customLong("secret-id-file"), help: ArgumentHelp("Read the AppRole secret id from this file (0600) instead of stdin.", valueName: "path"))
    package var secretIDFile: String?
    @Option(name: .customLong("token-file"), help: ArgumentHelp("Log in with the token in this file (0600) instead of AppRole.", valueName: "path"))
    package var tokenFile: String?
    @Flag(help: "The secret id given is a response-wrapping token: unwrap it.") package var wrapped = false
    @Flag(name: .customLong("no-check"), help: "Store without trying the login.") var noCheck = false
    @Flag(help: "Replace a backend of the same name.") package var replace = false
    @Flag(name: [.short, .customLong("verbose")], help: "Log HTTP requests and responses to stderr, secrets redacted (-vv adds bodies).")
    var verbosity: Int

    package func run() throws {
        try AppValidation.name(name)
        let addresses = try BackendService.validate(addresses: address.split(separator: ",").map { String($0.filter { $0 != " " }) })
        try BackendService.validate(mount: mount, prefix: prefix)
        guard (approle == nil) != (tokenFile == nil) else {
            throw VaultError("usage", "give either --approle ROLE_ID or --token-file FILE")
        }
        var record = BackendRecord(name: name, addresses: addresses, mount: mount, prefix: prefix, caBundle: caBundle,
                                   auth: approle == nil ? "token" : "approle", roleID: approle, added: Date())
        if let ca = caBundle { record.caBundle = ca }
        let transport = try backendTransport(record, verbosity: verbosity)
        var login: SecretBytes
        if let tokenFile {
            login = try KeyFiles.readPassphrase(tokenFile, what: "token file")
        } else if let secretIDFile {
            login = try KeyFiles.readPassphrase(secretIDFile, what: "secret id file")
        } else if let dir = Environment.current["CREDENTIALS_DIRECTORY"], !dir.isEmpty, FileSystem.exists(dir + "/backend-secret-id") {
            // A systemd unit's `LoadCredential=backend-secret-id:…`.
            login = try KeyFiles.readPassphrase(dir + "/backend-secret-id", what: "systemd credential backend-secret-id")
        } else if !Console.stdinIsTerminal {
            login = try Prompts.readStdinSecret()
        } else {
            login = try Terminal.readHidden(prompt: wrapped ? "Wrapping token for the secret id: " : "AppRole secret id: ")
        }
        guard login.count > 0, login.count <= 1024, login.isPrintableASCII else {
            throw VaultError("backend.login", "the \(tokenFile == nil ? "secret id" : "token") is empty, too long or not printable ASCII")
        }
        if wrapped { login = try KVClient.unwrapSecretID(login, addresses: addresses, transport: transport) }
        if !noCheck {
            let info = try BackendService.client(record, login: login, transport: transport).check()
            let (policies, ttl) = (info.policies, info.ttl)
            Console.err("vault: logged in to \(addresses[0]) (policies \(policies.joined(separator: ", ")), token ttl \(ttl) s)")
        }
        let service = BackendService(vault: try options.vault(), unlock: try options.credential())
        try service.add(record, login: login, replace: replace)
        Console.out("Stored backend '\(name)' (\(addresses.joined(separator: ", ")), \(mount)/\(prefix), \(record.auth))")
    }
}

package struct BackendList: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(commandName: "list", abstract: "List the stored backends.")
    @OptionGroup var options: VaultOptions

    package func run() throws {
        let all = try BackendService(vault: try options.vault(), unlock: try options.credential()).list()
        guard !all.isEmpty else { Console.out("No backends stored. Add one with `vault backend add`."); return }
        Console.out(Format.table(header: ["NAME", "ADDRESSES", "MOUNT", "PREFIX", "AUTH"], rows:
                                 all.map { [$0.name, $0.addresses.joined(separator: ","), $0.mount, $0.prefix, $0.auth] }))
    }
}

package struct BackendShow: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a stored backend (never its login).")
    @OptionGroup var options: VaultOptions
    @Argument var name: String

    package func run() throws {
        let (r, _) = try BackendService(vault: try options.vault(), unlock: try options.credential()).get(name)
        Console.out("name:       \(r.name)\naddresses:  \(r.addresses.joined(separator: ", "))\nmount:      \(r.mount)\nprefix:     \(r.prefix)\nauth:       \(r.auth)" +
                    (r.roleID.map { "\nrole id:    \($0)" } ?? "") + (r.caBundle.map { "\nca bundle:  \($0)" } ?? "") +
                    "\nadded:      \(AuditEvent.timestamp(r.added))")
    }
}

package struct BackendRemove: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(commandName: "remove", abstract: "Forget a stored backend and this host's login to it.")
    @OptionGroup var options: VaultOptions
    @Argument var name: String

    package func run() throws {
        try BackendService(vault: try options.vault(), unlock: try options.credential()).remove(name)
        Console.out("Removed backend '\(name)'")
    }
}

package struct BackendCheck: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(commandName: "check", abstract: "Log in to a stored backend and report what the login may do.")
    @OptionGroup package var options: VaultOptions
    @Argument package var name: String
    @Flag(name: [.short, .customLong("verbose")], help: "Log HTTP requests and responses to stderr, secrets redacted (-vv adds bodies).")
    var verbosity: Int

    package func run() throws {
        let (r, login) = try BackendService(vault: try options.vault(), unlock: try options.credential()).get(name)
        let info = try BackendService.client(r, login: login, transport: try backendTransport(r, verbosity: verbosity)).check()
        let (policies, ttl) = (info.policies, info.ttl)
        Console.out("backend '\(name)': login ok (\(r.auth)); policies \(policies.joined(separator: ", ")); token ttl \(ttl) s")
    }
}
