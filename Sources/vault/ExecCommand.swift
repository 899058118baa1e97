import ArgumentParser
import CProcessShim
import FoundationEssentials
import IdentityEndpoint
import VaultCore
import VaultCrypto
#if canImport(Glibc)
import Glibc
#endif

struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a program that gets tokens from a managed-identity endpoint, never the secret.",
        discussion: """
        Starts an App Service managed-identity endpoint on 127.0.0.1 (a random port) and runs COMMAND with \
        IDENTITY_ENDPOINT and a fresh IDENTITY_HEADER, so azure-identity (ManagedIdentityCredential, \
        DefaultAzureCredential), MSAL's ManagedIdentityClient and the other Azure SDKs get tokens for APP unchanged. \
        Every vault unlock variable is removed from COMMAND's environment. Signals are passed on to COMMAND; vault \
        exits with its status when it ends. Example: `vault exec demo -- python3 list_users.py`.
        """
    )

    @OptionGroup var options: VaultOptions
    @OptionGroup var network: NetworkOptions
    @Argument(help: "The app whose tokens COMMAND gets (also the one a request without client_id selects).") var app: String
    @Option(name: .customLong("app"), help: ArgumentHelp("Another app COMMAND may select by client_id (repeatable).", valueName: "name"))
    var extraApps: [String] = []
    @Option(name: .customLong("allow-resource"), help: ArgumentHelp("Serve tokens only for this resource (repeatable; default: any the app may use).", valueName: "uri"))
    var allowResources: [String] = []
    @Flag(help: "Also serve the IMDS protocol, through AZURE_POD_IDENTITY_AUTHORITY_HOST.") var imds = false
    @Argument(parsing: .postTerminator, help: "The program and its arguments, after --.") var command: [String] = []

    func run() throws {
        guard !command.isEmpty else {
            throw VaultError("usage", "no command to run", hint: "vault exec \(app) -- COMMAND [ARGS…]", exit: .usage)
        }
        // Before any thread starts: the signals are taken by sigwait below, never by a handler.
        guard vault_block_signals() == 0 else { throw VaultError("exec.signals", "cannot block signals", exit: .software) }
        let service = try network.tokenService(options, command: "exec")
        let handout = try TokenHandout(tokens: service, apps: [app] + extraApps,
                                       allowedResources: allowResources.isEmpty ? nil : allowResources, command: "exec")
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
        let status = try ChildProcess.run(command, environment: env) { handout.setChildPID($0) }
        if status != 0 { throw ExitCode(status) }
    }
}

/// The environment a child of `vault exec` gets.
enum ChildEnvironment {
    /// Without any way to unlock the vault (every `VAULT_*` variable, and systemd credentials), and without another
    /// managed-identity configuration an SDK would prefer or mix in.
    static func scrubbed(_ env: [String: String]) -> [String: String] {
        let identity: Set<String> = ["IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT",
                                     "MSI_SECRET", "AZURE_POD_IDENTITY_AUTHORITY_HOST", "CREDENTIALS_DIRECTORY"]
        return env.filter { key, _ in !key.hasPrefix("VAULT_") && !identity.contains(key) }
    }
}

/// Runs a child with signals forwarded (the caller has blocked them with `vault_block_signals`).
enum ChildProcess {
    /// Returns the child's exit status (128 + N when a signal N ended it).
    static func run(_ argv: [String], environment: [String: String], started: (Int32) -> Void) throws -> Int32 {
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        var cEnv: [UnsafeMutablePointer<CChar>?] = environment.sorted(by: { $0.key < $1.key }).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in cArgs { free(p) }
            // The environment holds IDENTITY_HEADER: zero it before freeing.
            for p in cEnv { if let p { memset(p, 0, strlen(p)); free(p) } }
        }
        var pid: Int32 = 0
        let rc = vault_spawn(&pid, argv[0], &cArgs, &cEnv)
        guard rc == 0 else {
            throw VaultError("exec.spawn", "cannot run \(argv[0]): \(String(cString: strerror(rc)))",
                             hint: rc == ENOENT ? "is it installed and on the PATH?" : nil, exit: rc == ENOENT ? .noInput : .unavailable)
        }
        started(pid)
        while true {
            let sig = vault_wait_signal()
            if sig == SIGCHLD || sig < 0 {
                var status: Int32 = 0
                let r = vault_reap(pid, &status)
                if r == 1 { return vault_exit_code(status) }
                if r < 0 { return 1 }
                continue
            }
            kill(pid, sig)
        }
    }
}

/// `$VAULT_ENDPOINT_THREADS`: event-loop threads of the endpoint (default 1: a cached token costs microseconds, and one
/// thread leaves the other cores to the programs it serves).
enum EndpointThreads {
    static func count() throws -> Int {
        guard let text = Environment.current["VAULT_ENDPOINT_THREADS"], !text.isEmpty else { return 1 }
        guard let n = Int(text), (1...64).contains(n) else {
            throw VaultError("usage", "VAULT_ENDPOINT_THREADS=\(text) is not a number of threads from 1 to 64", exit: .usage)
        }
        return n
    }
}
