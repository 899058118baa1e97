import ArgumentParser
import Logging
import VaultCrypto
import VaultHTTP

/// Options of commands that talk to Entra ID or Graph.
struct NetworkOptions: ParsableArguments {
    @Option(name: .customLong("ca-bundle"), help: ArgumentHelp("PEM file of CAs to trust (default: $VAULT_CA_BUNDLE, else the system's).", valueName: "file"))
    var caBundle: String?

    @Option(help: ArgumentHelp("Total time allowed for each HTTP request, in seconds (default 60).", valueName: "seconds"))
    var timeout: Double = 60

    @Flag(name: [.short, .customLong("verbose")], help: "Log HTTP requests and responses to stderr, secrets redacted (-vv adds bodies).")
    var verbosity: Int

    func transport() throws -> CurlTransport {
        var options = HTTPOptions(caBundle: caBundle ?? Environment.current["VAULT_CA_BUNDLE"].flatMap { $0.isEmpty ? nil : $0 })
        guard timeout > 0, timeout <= 3600 else {
            throw VaultError("usage", "--timeout must be between 0 and 3600 seconds", exit: .usage)
        }
        options.totalTimeout = timeout
        options.connectTimeout = min(10, timeout)
        options.userAgent = "vault/\(VaultVersion.string)"
        if let ca = options.caBundle, !FileSystem.exists(ca) {
            throw VaultError("http.ca_bundle", "the CA bundle \(ca) does not exist", hint: "check --ca-bundle / VAULT_CA_BUNDLE", exit: .noInput)
        }
        return try CurlTransport(options: options, logger: logger())
    }

    func logger() -> Logger? {
        guard verbosity > 0 else { return nil }
        var logger = Logger(label: "vault.http") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = verbosity > 1 ? .trace : .debug
        return logger
    }
}

import VaultStore
