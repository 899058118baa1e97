import ArgumentParser
import EntraAuth
import VaultCore
import VaultErrors
import VaultTokens
import VaultRotation
import Logging
import VaultCrypto
import VaultHTTP
import VaultStore
import VaultFormat
import VaultRecords

/// Options of commands that talk to Entra ID or Graph.
package struct NetworkOptions: ParsableArguments {
    package init() {}
    @Option(name: .customLong("ca-bundle"), help: ArgumentHelp("PEM file of CAs to trust (default: $VAULT_CA_BUNDLE, else the system's).", valueName: "file"))
    package var caBundle: String?

    @Option(help: ArgumentHelp("Total time allowed for each HTTP request, in seconds (default 60).", valueName: "seconds"))
    package var timeout: Double = NetworkSettings.defaultTimeout

    @Option(name: .customLong("max-wait"), help: ArgumentHelp("Longest single wait vault sits through when Entra ID asks it to retry later (Retry-After), in seconds (default 30).", valueName: "seconds"))
    package var maxWait: Double = NetworkSettings.defaultMaxWait

    @Flag(name: [.short, .customLong("verbose")], help: "Log HTTP requests and responses to stderr, secrets redacted (-vv adds bodies).")
    package var verbosity: Int

    /// The same settings as a plain value, free of ArgumentParser's types (TokenCommandLine builds one directly).
    package var settings: NetworkSettings { NetworkSettings(caBundle: caBundle, timeout: timeout, maxWait: maxWait, verbosity: verbosity) }

    /// The libcurl transport: see `NetworkSettings.transport()`.
    package func transport() throws -> any HTTPTransport { try settings.transport() }

    package func validate() throws { try settings.validate() }

    /// The token use case wired to this vault and network.
    package func tokenService(_ vault: VaultOptions, command: String = Self.commandName, audit target: AuditLogFile.Target? = nil) throws -> TokenService {
        try settings.tokenService(vault.access, command: command, audit: target)
    }

    /// The subcommand's name, for the audit log.
    package static var commandName: String {
        CommandLine.arguments.dropFirst().first(where: { !$0.hasPrefix("-") }) ?? "vault"
    }

    /// `$VAULT_AUDIT_MAX_BYTES`: the size at which the audit log moves to `audit.log.1` (default 32 MiB, at least 4096).
    package static func auditMaxBytes() -> Int64 {
        Environment.current["VAULT_AUDIT_MAX_BYTES"].flatMap { Int64($0) }.map { max(4096, $0) } ?? AuditLogFile.defaultMaxBytes
    }

    /// `$VAULT_AUDIT_LOG` (a path, or `stderr`), else `audit.log` in the vault directory.
    package static func auditTarget(_ directory: VaultDirectory) -> AuditLogFile.Target {
        switch Environment.current["VAULT_AUDIT_LOG"] {
        case .some("stderr"): return .standardError
        case .some(let path) where !path.isEmpty: return .file(path)
        default: return .file(directory.auditPath)
        }
    }

    package func httpOptions() throws -> HTTPOptions { try settings.httpOptions() }

    package func logger() -> Logger? { settings.logger() }

    package static func logger(_ verbosity: Int) -> Logger? {
        guard verbosity > 0 else { return nil }
        var logger = Logger(label: "vault.http") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = verbosity > 1 ? .trace : .debug
        return logger
    }

    /// Requests to fleet backends are logged like Entra's and Graph's (headers and bodies redacted).
    package static func logBackends(_ logger: Logger?) {
        guard let logger else { return }
        BackendService.transportMaker.withLock { $0 = { try CurlTransport(options: $0, logger: logger) } }
    }
}

/// The values of `NetworkOptions` (`--ca-bundle`, `--timeout`, `--max-wait`, `-v`) and what is built from them.
package struct NetworkSettings {
    /// The defaults of `--timeout` and `--max-wait`.
    package static let defaultTimeout: Double = 60
    package static let defaultMaxWait: Double = 30

    package var caBundle: String?
    package var timeout = Self.defaultTimeout
    package var maxWait = Self.defaultMaxWait
    package var verbosity = 0

    package init(caBundle: String? = nil, timeout: Double = Self.defaultTimeout, maxWait: Double = Self.defaultMaxWait, verbosity: Int = 0) {
        self.caBundle = caBundle
        self.timeout = timeout
        self.maxWait = maxWait
        self.verbosity = verbosity
    }

    /// The libcurl transport, created (and libcurl loaded) on the first request only.
    package func transport() throws -> any HTTPTransport {
        try validate()
        let logger = logger()
        NetworkOptions.logBackends(logger)
        // The CA bundle is read and checked with libcurl, on the first request: a cache hit touches neither.
        return LazyTransport { try CurlTransport(options: try httpOptions(), logger: logger) }
    }

    package func validate() throws {
        guard timeout > 0, timeout <= 3600 else {
            throw VaultError("usage", "--timeout must be between 0 and 3600 seconds")
        }
        guard maxWait >= 0, maxWait <= 3600 else {
            throw VaultError("usage", "--max-wait must be between 0 and 3600 seconds")
        }
    }

    /// The token use case wired to this vault and network.
    package func tokenService(_ vault: VaultAccess, command: String = NetworkOptions.commandName, audit target: AuditLogFile.Target? = nil) throws -> TokenService {
        let store = try vault.vault()
        var service = TokenService(vault: store, unlock: try vault.credential(), transport: try transport())
        service.retry = TokenRetryPolicy(maxDelay: maxWait)
        service.audit = AuditLog(target ?? NetworkOptions.auditTarget(store.directory), maxBytes: NetworkOptions.auditMaxBytes(), warn: { Console.warn($0) })
        service.requester = AuditRequester(command: command)
        return service
    }

    package func httpOptions() throws -> HTTPOptions {
        var options = HTTPOptions(caBundle: caBundle ?? Environment.current["VAULT_CA_BUNDLE"].flatMap { $0.isEmpty ? nil : $0 })
        options.totalTimeout = timeout
        options.connectTimeout = min(10, timeout)
        options.userAgent = "vault/\(VaultVersion.number)"
        if let ca = options.caBundle {
            // A CA bundle decides who may receive the secret: it gets the same file checks as a key file, except that
            // others may read it.
            let pem = try FileSystem.readVerified(ca, rule: .init(what: "CA bundle", privateRead: false), limit: 16 << 20)
            options.caBundlePEM = pem.withUnsafeBytes { Array($0) }
        }
        return options
    }

    package func logger() -> Logger? { NetworkOptions.logger(verbosity) }
}
