import EmulatorDirectory
import Foundation
import Synchronization

/// What every handler shares: immutable tenants and users, the mutable state actor, and the public base URL.
final class EmulatorCore: Sendable {
    let tenants: [Tenant]
    let state: EmulatorState
    /// External OIDC issuers' keys, for federated identity credentials.
    let issuers: IssuerMetadata
    let cloud: EmulatorCloud
    private let baseURL = Mutex<String>("")

    init(tenants: [Tenant], state: EmulatorState, issuers: IssuerMetadata = IssuerMetadata(trusted: []), cloud: EmulatorCloud = .global) {
        self.tenants = tenants
        self.state = state
        self.issuers = issuers
        self.cloud = cloud
    }

    /// `https://127.0.0.1:PORT` (known once the server is bound).
    var base: String { baseURL.withLock { $0 } }
    func setBase(_ url: String) { baseURL.withLock { $0 = url } }

    func tenant(_ segment: String) -> Tenant? { tenants.first { $0.matches(segment) } }

    /// gzip bodies of immutable pages (users never change), bounded to 512 MiB: compression must not be what
    /// limits a client benchmark.
    let gzipCache = Mutex<(entries: [String: Data], bytes: Int)>(([:], 0))

    func cachedGzip(_ key: String, make: () -> Data?) -> Data? {
        if let hit = gzipCache.withLock({ $0.entries[key] }) { return hit }
        guard let made = make() else { return nil }
        gzipCache.withLock { cache in
            if cache.bytes + made.count > 512 << 20 { cache = ([:], 0) }
            cache.entries[key] = made
            cache.bytes += made.count
        }
        return made
    }

    /// Builds tenants, users and app registrations from a configuration.
    static func build(_ config: EmulatorConfig) throws -> EmulatorCore {
        let seed = config.seed ?? "vault"
        let userCount = config.users ?? 50
        let tenantConfigs = config.tenants ?? [EmulatorConfig.defaultTenant]
        guard !tenantConfigs.isEmpty else { throw EmulatorError("configuration has no tenant") }
        // The synthetic applications live in the first tenant, dated from the emulator's start (whole seconds).
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        guard (0...1_000_000).contains(config.applications ?? 0) else { throw EmulatorError("applications must be 0…1000000") }
        let synthetic = SyntheticApplications.generate(seed: seed, count: config.applications ?? 0, anchor: now)
        let tenants = try tenantConfigs.enumerated().map { n, t -> Tenant in
            guard isGUID(t.id) else { throw EmulatorError("tenant id '\(t.id)' is not a GUID") }
            return try Tenant(id: t.id, domain: t.domain, users: SyntheticUsers.generate(seed: seed, count: userCount, domain: t.domain),
                              applications: n == 0 ? synthetic.applications : [], servicePrincipals: n == 0 ? synthetic.servicePrincipals : [])
        }
        var apps: [AppRegistration] = []
        for a in config.apps ?? [EmulatorConfig.demoApp] {
            let tenant = a.tenant.flatMap { seg in tenants.first { $0.matches(seg) } } ?? tenants[0]
            if let t = a.tenant, !tenant.matches(t) { throw EmulatorError("app \(a.name): unknown tenant \(t)") }
            let clientID = (a.clientID ?? GUID.make()).lowercased()
            guard isGUID(clientID) else { throw EmulatorError("app \(a.name): client_id is not a GUID") }
            let sp = (a.servicePrincipalID ?? GUID.make()).lowercased()
            let passwords = (a.passwords ?? [EmulatorConfig.Password(secret: GraphApplications.newSecret())]).map { p -> PasswordCredential in
                let start = p.start.flatMap(GraphTime.parse) ?? now.addingTimeInterval(-86400)
                let end = p.end.flatMap(GraphTime.parse) ?? start.addingTimeInterval(GraphApplications.twoYears)
                return PasswordCredential(keyID: (p.keyID ?? GUID.make()).lowercased(), secret: p.secret, hint: String(p.secret.prefix(3)),
                                          displayName: p.displayName, start: start, end: end,
                                          startText: p.start ?? GraphTime.sevenDigits(start), endText: p.end ?? GraphTime.sevenDigits(end),
                                          usableFrom: .distantPast)
            }
            var federated: [FederatedCredential] = []
            for f in a.federatedCredentials ?? [] {
                var body: [String: Any] = ["name": f.name, "issuer": f.issuer, "subject": f.subject,
                                           "audiences": f.audiences ?? [(config.cloud ?? .global).tokenExchangeAudience]]
                if let d = f.description { body["description"] = d }
                do { federated.append(try FederatedCredentialRules.validate(body, existing: federated, cloud: config.cloud ?? .global)) } catch let e as GraphError {
                    throw EmulatorError("app \(a.name): federated credential \(f.name): \(e.message)")
                }
            }
            let certs = try (a.certificates ?? []).map { try CertificateCredential(pem: $0.pem, keyID: ($0.keyID ?? GUID.make()).lowercased()) }
            var owners = (a.owners ?? []).map { $0.lowercased() }
            if a.ownsSelf ?? false { owners.append(sp) }
            var foreign: [String: String] = [:]
            for segment in a.alsoIn ?? [] {
                guard let other = tenants.first(where: { $0.matches(segment) }), other.id != tenant.id else {
                    throw EmulatorError("app \(a.name): also_in names unknown or home tenant \(segment)")
                }
                foreign[other.id] = GUID.make()
            }
            guard !apps.contains(where: { $0.clientID == clientID }) else {
                throw EmulatorError("app \(a.name): client_id \(clientID) is registered twice (use also_in for a multi-tenant app)")
            }
            apps.append(AppRegistration(
                name: a.name, tenantID: tenant.id, clientID: clientID, objectID: (a.objectID ?? GUID.make()).lowercased(),
                servicePrincipalID: sp, displayName: a.displayName ?? a.name, roles: a.roles ?? [], owners: owners,
                passwords: passwords, certificates: certs, createdText: GraphTime.seconds(now.addingTimeInterval(-86400)),
                foreignServicePrincipals: foreign, federated: federated))
        }
        let state = EmulatorState(apps: apps, tokenLifetime: config.tokenLifetime ?? 3599, propagationDelay: config.propagationDelay ?? 0,
                                  replicationLag: config.replicationLag ?? 0, issuerCacheSeconds: config.issuerCacheSeconds ?? 60)
        let issuers = IssuerMetadata(trusted: try IssuerMetadata.certificates(config.issuerCA ?? []))
        return EmulatorCore(tenants: tenants, state: state, issuers: issuers, cloud: config.cloud ?? .global)
    }

    static func isGUID(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        return parts.map(\.count) == [8, 4, 4, 4, 12] && parts.allSatisfy { $0.allSatisfy(\.isHexDigit) }
    }
}
