import ArgumentParser
import VaultCLI
import VaultErrors
import VaultSystem
import FoundationEssentials
import IdentityEndpoint
import VaultCore
import VaultTokens
import VaultRotation
import VaultCrypto
#if canImport(Glibc)
import Glibc
#endif

package struct ExecCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a program that gets tokens from a managed-identity endpoint, never the secret.",
        discussion: """
        Starts an App Service managed-identity endpoint on 127.0.0.1 (a random port) and runs COMMAND with \
        IDENTITY_ENDPOINT and a fresh IDENTITY_HEADER, so azure-identity (ManagedIdentityCredential, \
        DefaultAzureCredential), MSAL's ManagedIdentityClient and the other Azure SDKs get tokens for APP unchanged. \
        Every vault unlock variable is removed from COMMAND's environment. Signals are passed on to COMMAND; vault \
        exits with its status when it ends. Example: `vault exec demo -- python3 list_users.py`.

        COMMAND runs as you, in a mount namespace of its own (through an unprivileged user namespace) in which the \
        vault directory, the agent's socket directory, the key or passphrase file, the audit log and the systemd \
        credentials directory are hidden; it inherits no descriptor but stdin, stdout, stderr and those vault was \
        given. In that namespace setuid and file-capability programs (sudo, su, ping on some systems) run without \
        their privileges, and files of other users show as owned by nobody: pass --no-isolation for such programs. \
        Where user namespaces are off, vault warns and runs COMMAND without isolation (--require-isolation refuses \
        instead, exit 77). For a program you do not trust, prefer `vault serve` under its own system user.
        """
    )

    @OptionGroup package var options: VaultOptions
    @OptionGroup package var network: NetworkOptions
    @Argument(help: "The app whose tokens COMMAND gets (also the one a request without client_id selects).") var app: String
    @Option(name: .customLong("app"), help: ArgumentHelp("Another app COMMAND may select by client_id (repeatable).", valueName: "name"))
    package var extraApps: [String] = []
    @Option(name: .customLong("allow-resource"), help: ArgumentHelp("Serve tokens only for this resource (repeatable; default: the resource of the app's stored scope).", valueName: "uri"))
    var allowResources: [String] = []
    @Flag(help: "Serve tokens for any resource the apps can get (default: the stored scope's resource only).") var allowAnyResource = false
    @Flag(help: "Also serve the IMDS protocol, through AZURE_POD_IDENTITY_AUTHORITY_HOST.") var imds = false
    @Flag(help: "Refuse to run COMMAND when it cannot be isolated from the vault (exit 77).") var requireIsolation = false
    @Flag(help: "Run COMMAND without isolation: it can then read the vault directory, the key file and the agent's socket.")
    var noIsolation = false
    @Argument(parsing: .postTerminator, help: "The program and its arguments, after --.") var command: [String] = []

    package func run() throws {
        // Before vault opens anything: what the user gave vault is all the child inherits besides 0, 1 and 2.
        let given = GivenDescriptors.current()
        guard !command.isEmpty else {
            throw VaultError("usage", "no command to run", context: ["case": "exec", "app": app])
        }
        if noIsolation && requireIsolation {
            throw VaultError("usage", "--no-isolation and --require-isolation cannot be used together")
        }
        if allowAnyResource && !allowResources.isEmpty {
            throw VaultError("usage", "--allow-any-resource and --allow-resource cannot be used together")
        }
        // Before any thread starts: the signals are taken by sigwait below, never by a handler.
        guard Signals.block() else { throw VaultError("exec.signals", "cannot block signals") }
        let service = try network.tokenService(options, command: "exec")
        let handout = try TokenHandout(tokens: service, apps: [app] + extraApps,
                                       allowedResources: allowResources.isEmpty ? nil : allowResources, anyResource: allowAnyResource, command: "exec", use: RotationService.handoutUse,
                                       words: ErrorWords.refusal)
        var headerBytes = Array(hexString(SystemRandom().bytes(32)).utf8)
        let header = SecretBytes(consuming: &headerBytes)
        let server = try IdentityServer(.init(listen: .tcp(host: "127.0.0.1", port: 0), identityHeader: header, servesIMDS: imds,
                                              eventLoopThreads: try EndpointThreads.count()),
                                        source: HandoutSource(handout: handout), clock: { Int64(Date().timeIntervalSince1970) })
        defer { server.close() }
        let base = "http://127.0.0.1:\(server.port ?? 0)"
        var env = ChildEnvironment.scrubbed(Environment.current)
        env["IDENTITY_ENDPOINT"] = base + IdentityRouter.appServicePath
        header.withUnsafeBytes { env["IDENTITY_HEADER"] = String(decoding: $0, as: UTF8.self) }
        if imds { env["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = base }
        var isolation = ChildIsolation(mode: noIsolation ? .off : requireIsolation ? .required : .preferred)
        if isolation.mode != .off {
            let audit: String? = if case .file(let path) = NetworkOptions.auditTarget(try options.directory()) { path } else { nil }
            (isolation.hiddenDirectories, isolation.hiddenFiles) = try ChildIsolation.paths(options: options, environment: Environment.current, auditLog: audit)
        }
        let status = try ChildProcess.run(command, environment: env, isolation: isolation, keep: given) { pid, outcome in
            if case .notIsolated(let reason) = outcome {
                let reach = (isolation.hiddenDirectories + isolation.hiddenFiles).joined(separator: ", ")
                Console.warn("\(command[0]) runs without isolation (\(reason)): it can read \(reach)")
                Console.hint("run it under `vault serve` as its own system user, pass --require-isolation to refuse, or --no-isolation to accept this without a warning")
            }
            handout.setChildPID(pid)
        }
        handout.flushAudit(now: Int64(Date().timeIntervalSince1970), all: true)
        if status != 0 { throw ExitCode(status) }
    }
}

/// The environment a child of `vault exec` gets.
package enum ChildEnvironment {
    /// Without any way to unlock the vault (every `VAULT_*` variable, and systemd credentials), and without another
    /// managed-identity configuration an SDK would prefer or mix in.
    package static func scrubbed(_ env: [String: String]) -> [String: String] {
        let identity: Set<String> = ["IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT",
                                     "MSI_SECRET", "AZURE_POD_IDENTITY_AUTHORITY_HOST", "CREDENTIALS_DIRECTORY"]
        return env.filter { key, _ in !key.hasPrefix("VAULT_") && !identity.contains(key) }
    }
}

/// `$VAULT_ENDPOINT_THREADS`: event-loop threads of the endpoint (default 1: a cached token costs microseconds, and one
/// thread leaves the other cores to the programs it serves).
package enum EndpointThreads {
    package static func count() throws -> Int {
        guard let text = Environment.current["VAULT_ENDPOINT_THREADS"], !text.isEmpty else { return 1 }
        guard let n = Int(text), (1...64).contains(n) else {
            throw VaultError("usage", "VAULT_ENDPOINT_THREADS=\(text) is not a number of threads from 1 to 64")
        }
        return n
    }
}
