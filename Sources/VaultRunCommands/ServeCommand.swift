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
import VaultStore
import VaultFormat
import VaultRecords
#if canImport(Glibc)
import Glibc
#endif

package struct ServeCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a managed-identity endpoint for other programs, as a long-running service.",
        discussion: """
        Programs point IDENTITY_ENDPOINT at http://ADDRESS/msi/token and IDENTITY_HEADER at the contents of the \
        header file. Under systemd: socket activation (LISTEN_FDS) and Type=notify are supported, SIGTERM stops \
        cleanly and SIGHUP reopens the audit log; see contrib/systemd/. Tokens are renewed before they expire.
        """
    )

    @OptionGroup package var options: VaultOptions
    @OptionGroup package var network: NetworkOptions
    @Option(name: .customLong("app"), help: ArgumentHelp("An app to serve (repeatable; the first is the default for requests without client_id).", valueName: "name"))
    package var apps: [String] = []
    @Option(help: ArgumentHelp("Where to listen: 127.0.0.1:PORT or unix:PATH (default: the socket systemd passes).", valueName: "address"))
    package var listen: String?
    @Option(name: .customLong("identity-header-file"), help: ArgumentHelp("File holding the IDENTITY_HEADER clients must send (default: the systemd credential identity-header).", valueName: "path"))
    package var headerFile: String?
    @Option(name: .customLong("allow-resource"), help: ArgumentHelp("Serve tokens only for this resource (repeatable; default: the resource of each app's stored scope).", valueName: "uri"))
    package var allowResources: [String] = []
    @Flag(help: "Serve tokens for any resource the apps can get (default: the stored scope's resource only).") var allowAnyResource = false
    @Flag(help: "Also serve the IMDS protocol. It has no secret header: every local program that can reach the address gets tokens (requests a web browser makes are refused).") var imds = false
    @Option(name: .customLong("metrics-listen"), help: ArgumentHelp("Also serve Prometheus metrics at /metrics here: 127.0.0.1:PORT, [::1]:PORT or a Unix socket path (never a token, secret or header).", valueName: "address"))
    package var metricsListen: String?
    @Option(name: .customLong("audit-log"), help: ArgumentHelp("Audit log: a path, or stderr (default: $VAULT_AUDIT_LOG, else audit.log in the vault).", valueName: "path"))
    package var auditLog: String?

    package func run() throws {
        guard !apps.isEmpty else {
            throw VaultError("usage", "no app to serve", context: ["case": "serve_app"])
        }
        if allowAnyResource && !allowResources.isEmpty {
            throw VaultError("usage", "--allow-any-resource and --allow-resource cannot be used together")
        }
        let listenOn = try Self.listenAddress(listen)
        let metricsOn = try metricsListen.map(Self.metricsAddress)
        let header = try identityHeader().map(IdentityHeaderSecret.init)
        guard header != nil || imds else {
            throw VaultError("serve.no_header", "the App Service endpoint needs a secret header and none was given")
        }
        guard Signals.block() else { throw VaultError("serve.signals", "cannot block signals") }
        let target: AuditLogFile.Target? = auditLog.map { $0 == "stderr" ? .standardError : .file($0) }
        var service = try network.tokenService(options, command: "serve", audit: target)
        let metrics = metricsOn.map { _ in ServeMetrics(apps: apps) }
        if let metrics {
            service.audit = AuditLog(target ?? NetworkOptions.auditTarget(service.vault.directory), maxBytes: NetworkOptions.auditMaxBytes(),
                                     warn: { Console.warn($0) }, onFailure: { metrics.auditWriteFailed() })
        }
        let handout = try TokenHandout(tokens: service, apps: apps, allowedResources: allowResources.isEmpty ? nil : allowResources,
                                       anyResource: allowAnyResource, command: "serve", metrics: metrics, use: RotationService.handoutUse,
                                       words: ErrorWords.refusal)
        if let metrics {
            // Each served app's credential expiry, as the vault stored it (nothing asked of Graph).
            for s in (try? StatusService(tokens: service).status(apps: apps, warnDays: 30, offline: true)) ?? [] {
                if let end = s.expires { metrics.credentialExpiry(app: s.app, credential: s.credential.hasPrefix("certificate") ? "certificate" : "secret", at: Int64(end.timeIntervalSince1970)) }
            }
        }
        let server = try IdentityServer(.init(listen: listenOn, header: header, servesIMDS: imds, eventLoopThreads: try EndpointThreads.count()),
                                        source: HandoutSource(handout: handout), clock: { Int64(Date().timeIntervalSince1970) })
        Console.err("vault: serving \(handout.apps.map(\.name).joined(separator: ", ")) on \(Self.describe(listenOn, port: server.port))")
        var metricsServer: MetricsServer?
        if let metrics, let metricsOn {
            do {
                metricsServer = try MetricsServer(listen: metricsOn) { openMetrics in
                    let format: ServeMetrics.Format = openMetrics ? .openMetrics : .text
                    return (format.contentType, metrics.render(format))
                }
            } catch let e as IdentityServerError {
                server.close()
                throw VaultError("serve.metrics_listen", e.message)
            }
            switch metricsOn {
            case .tcp(let host, _): Console.err("vault: metrics on http://\(host.contains(":") ? "[\(host)]" : host):\(metricsServer?.port ?? 0)/metrics")
            default: Console.err("vault: metrics on \(metricsOn.description)")
            }
        }
        if let socket = Environment.current["NOTIFY_SOCKET"], !socket.isEmpty { ServiceNotify.send("READY=1\nSTATUS=serving tokens", to: socket) }
        while true {
            let sig = Signals.wait(seconds: 30)
            switch sig {
            case SIGTERM, SIGINT, SIGQUIT:
                if let socket = Environment.current["NOTIFY_SOCKET"], !socket.isEmpty { ServiceNotify.send("STOPPING=1", to: socket) }
                server.close()
                metricsServer?.close()
                handout.flushAudit(now: Int64(Date().timeIntervalSince1970), all: true)
                Console.err("vault: stopped")
                return
            case SIGHUP:
                // The audit log is reopened (logrotate), and the header file read again: replacing it retires a
                // leaked header. A file that is now unreadable or invalid keeps the old header, said once.
                (service.audit as? AuditLog)?.reopen()
                if let header {
                    do {
                        if let fresh = try identityHeader() { header.replace(fresh) }
                    } catch let e as VaultError {
                        Console.warn("the identity header was not replaced: \(e.reason)")
                    }
                }
            case 0:
                let now = Int64(Date().timeIntervalSince1970)
                handout.renewExpiring(now: now)
                handout.flushAudit(now: now)
            default:
                continue
            }
        }
    }

    func identityHeader() throws -> SecretBytes? {
        var path = headerFile
        if path == nil, let dir = Environment.current["CREDENTIALS_DIRECTORY"], !dir.isEmpty, FileSystem.exists(dir + "/identity-header") {
            path = dir + "/identity-header"
        }
        guard let path else { return nil }
        let raw = try FileSystem.readVerified(path, rule: .init(what: "identity header file", privateRead: headerFile != nil), limit: 1024)
        var bytes = raw.withUnsafeBytes { Array($0) }
        while let last = bytes.last, last == 0x0a || last == 0x0d { bytes.removeLast() }
        defer { bytes.withUnsafeMutableBytes { if let b = $0.baseAddress { memset(b, 0, $0.count) } } }
        guard bytes.count >= 16, bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw VaultError("serve.header", "the identity header in \(path) must be 16 or more printable characters without spaces")
        }
        return SecretBytes(consuming: &bytes)
    }

    static func listenAddress(_ flag: String?) throws -> IdentityServer.Listen {
        let env = Environment.current
        if flag == nil, let pid = env["LISTEN_PID"], Int32(pid) == getpid(), let n = env["LISTEN_FDS"].flatMap(Int.init), n >= 1 {
            // As --listen: loopback or a Unix socket only (a unit written ListenStream=8765 listens on every interface).
            do {
                _ = try IdentityServer.checkInherited(3)
            } catch let e as IdentityServerError {
                throw VaultError("serve.listen", e.message)
            }
            return .inherited(descriptor: 3)
        }
        guard let flag else {
            throw VaultError("usage", "nowhere to listen", context: ["case": "serve_listen"])
        }
        if flag.hasPrefix("unix:") {
            let path = String(flag.dropFirst(5))
            guard path.hasPrefix("/"), path.utf8.count < 108 else {
                throw VaultError("usage", "--listen unix:PATH needs an absolute path shorter than 108 bytes")
            }
            return .unix(path: path)
        }
        guard let colon = flag.lastIndex(of: ":"), let port = Int(flag[flag.index(after: colon)...]), (0...65535).contains(port) else {
            throw VaultError("usage", "--listen \(flag) is not HOST:PORT or unix:PATH")
        }
        let host = String(flag[..<colon])
        guard host == "127.0.0.1" || host == "::1" || host == "localhost" else {
            throw VaultError("usage", "vault serves tokens on loopback only, not \(host)", context: ["case": "serve_loopback"])
        }
        return .tcp(host: host == "localhost" ? "127.0.0.1" : host, port: port)
    }

    /// `--metrics-listen`: a loopback HOST:PORT or a Unix socket path (`unix:PATH` or an absolute path), nothing else.
    static func metricsAddress(_ flag: String) throws -> IdentityServer.Listen {
        if flag.hasPrefix("/") || flag.hasPrefix("unix:") {
            let path = flag.hasPrefix("unix:") ? String(flag.dropFirst(5)) : flag
            guard path.hasPrefix("/"), path.utf8.count < 108, !path.contains("\0") else {
                throw VaultError("usage", "--metrics-listen \(flag): a Unix socket needs an absolute path shorter than 108 bytes", context: ["case": "metrics_listen"])
            }
            return .unix(path: path)
        }
        guard let colon = flag.lastIndex(of: ":"), let port = Int(flag[flag.index(after: colon)...]), (0...65535).contains(port) else {
            throw VaultError("usage", "--metrics-listen \(flag) is not HOST:PORT or a Unix socket path", context: ["case": "metrics_listen"])
        }
        var host = String(flag[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard host == "127.0.0.1" || host == "::1" || host == "localhost" else {
            throw VaultError("usage", "--metrics-listen serves on loopback or a Unix socket only, not \(host.isEmpty ? "every interface" : host)", context: ["case": "metrics_listen"])
        }
        return .tcp(host: host == "localhost" ? "127.0.0.1" : host, port: port)
    }

    static func describe(_ listen: IdentityServer.Listen, port: Int?) -> String {
        switch listen {
        case .tcp(let host, _): return "http://\(host):\(port ?? 0)\(IdentityRouter.appServicePath)"
        case .unix(let path): return "unix:\(path)"
        case .inherited: return "the socket from systemd" + (port.map { " (port \($0))" } ?? "")
        }
    }
}
