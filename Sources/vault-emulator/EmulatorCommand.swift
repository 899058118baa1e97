import ArgumentParser
import EntraEmulator
import Foundation

/// `vault-emulator`: a local Entra ID + Microsoft Graph for tests and the offline demo.
@main
struct EmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault-emulator",
        abstract: "A faithful local Entra ID and Microsoft Graph on 127.0.0.1, for tests and offline demos.",
        discussion: """
        Writes STATE_DIR/emulator.json (0600) once listening: authority_host, graph, ca, tenant_id, tenant_domain, \
        admin and apps [{name, client_id, object_id, secret, roles}]. Stops cleanly on SIGTERM or SIGINT.
        """
    )

    @Option(help: "Port to listen on (0 = any free port).") var port: Int = 0
    @Option(name: .customLong("port-file"), help: "Write the chosen port to this file.") var portFile: String?
    @Option(name: .customLong("state-dir"), help: "Directory for ca.pem and emulator.json.") var stateDir: String = "./emulator-state"
    @Option(help: "JSON configuration file (tenants, apps, token lifetime, users, seed).") var config: String?
    @Option(help: "Number of synthetic users per tenant (overrides the config).") var users: Int?
    @Option(help: "Number of synthetic applications, each with a service principal, seeded with credential cases (overrides the config).") var applications: Int?
    @Option(help: "Seed of the synthetic users (overrides the config).") var seed: String?
    @Option(name: .customLong("token-lifetime"), help: "Access-token lifetime in seconds (overrides the config).") var tokenLifetime: Int?
    @Option(name: .customLong("propagation-delay"), help: "Seconds before a new secret works at the token endpoint.") var propagationDelay: Double?
    @Option(name: .customLong("issuer-ca"),
            help: "A PEM file of CA certificates trusted when fetching a federated issuer's discovery document and keys (repeatable; without it, the system's roots).")
    var issuerCA: [String] = []
    @Option(name: .customLong("issuer-cache"), help: "Seconds a federated issuer's discovery document and keys are reused (default 60; 0: never).")
    var issuerCache: Double?
    @Option(help: "The cloud whose token-exchange audience federated credentials name: global, usgov or china.") var cloud: String?
    @Flag(help: "Serve plain HTTP instead of HTTPS.") var http = false

    func run() async throws {
        var cfg = EmulatorConfig()
        if let config {
            do { cfg = try EmulatorConfig.load(config) } catch {
                throw ValidationError("cannot read --config \(config): \(error)")
            }
        }
        if let users { cfg.users = users }
        if let applications {
            guard (0...1_000_000).contains(applications) else { throw ValidationError("--applications must be 0…1000000") }
            cfg.applications = applications
        }
        if let seed { cfg.seed = seed }
        if let tokenLifetime { cfg.tokenLifetime = tokenLifetime }
        if let propagationDelay { cfg.propagationDelay = propagationDelay }
        if !issuerCA.isEmpty { cfg.issuerCA = (cfg.issuerCA ?? []) + issuerCA }
        if let issuerCache {
            guard issuerCache >= 0 else { throw ValidationError("--issuer-cache must be 0 or more") }
            cfg.issuerCacheSeconds = issuerCache
        }
        if let cloud {
            guard let parsed = EmulatorCloud(rawValue: cloud) else { throw ValidationError("--cloud must be global, usgov or china") }
            cfg.cloud = parsed
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535") }
        let running = try await Emulator.start(config: cfg, options: EmulatorOptions(port: port, stateDirectory: stateDir, https: !http),
                                               signals: [.sigterm, .sigint])
        if let portFile {
            try "\(running.port)\n".write(toFile: portFile, atomically: true, encoding: .utf8)
        }
        FileHandle.standardOutput.write(Data("vault-emulator listening on \(running.baseURL) (state: \(stateDir)/emulator.json)\n".utf8))
        FileHandle.standardOutput.synchronizeFile()
        try await running.wait()
        print("vault-emulator stopped")
    }
}
