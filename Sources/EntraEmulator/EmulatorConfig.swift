import EmulatorDirectory
import Foundation

/// The emulator's configuration (a JSON file, `--config`), snake_case keys. Every field is optional.
public struct EmulatorConfig: Codable, Sendable {
    public struct Tenant: Codable, Sendable {
        public var id: String
        public var domain: String
        public init(id: String, domain: String) { self.id = id; self.domain = domain }
    }

    public struct Password: Codable, Sendable {
        public var keyID: String?
        public var secret: String
        public var displayName: String?
        public var start: String?
        public var end: String?
        public init(secret: String, keyID: String? = nil, displayName: String? = nil, start: String? = nil, end: String? = nil) {
            self.secret = secret; self.keyID = keyID; self.displayName = displayName; self.start = start; self.end = end
        }
        enum CodingKeys: String, CodingKey { case keyID = "key_id", secret, displayName = "display_name", start, end }
    }

    public struct CertificateCredential: Codable, Sendable {
        public var pem: String
        public var keyID: String?
        public init(pem: String, keyID: String? = nil) { self.pem = pem; self.keyID = keyID }
        enum CodingKeys: String, CodingKey { case pem, keyID = "key_id" }
    }

    /// A federated identity credential configured on an app (Graph's fields; `audiences` defaults to the cloud's).
    public struct FederatedCredential: Codable, Sendable {
        public var name: String
        public var issuer: String
        public var subject: String
        public var audiences: [String]?
        public var description: String?
        public init(name: String, issuer: String, subject: String, audiences: [String]? = nil, description: String? = nil) {
            self.name = name; self.issuer = issuer; self.subject = subject; self.audiences = audiences; self.description = description
        }
    }

    public struct App: Codable, Sendable {
        public var name: String
        public var tenant: String?
        public var clientID: String?
        public var objectID: String?
        public var servicePrincipalID: String?
        public var displayName: String?
        public var roles: [String]?
        public var ownsSelf: Bool?
        public var owners: [String]?
        public var passwords: [Password]?
        public var certificates: [CertificateCredential]?
        public var federatedCredentials: [FederatedCredential]?
        /// Other tenants (id or domain) where this multi-tenant app has a service principal, with the same roles.
        public var alsoIn: [String]?

        public init(name: String, tenant: String? = nil, clientID: String? = nil, roles: [String]? = nil, ownsSelf: Bool? = nil,
                    passwords: [Password]? = nil, certificates: [CertificateCredential]? = nil) {
            self.name = name; self.tenant = tenant; self.clientID = clientID; self.roles = roles; self.ownsSelf = ownsSelf
            self.passwords = passwords; self.certificates = certificates
        }

        enum CodingKeys: String, CodingKey {
            case name, tenant, roles, owners, passwords, certificates, federatedCredentials = "federated_credentials"
            case clientID = "client_id", objectID = "object_id", servicePrincipalID = "service_principal_id"
            case displayName = "display_name", ownsSelf = "owns_self", alsoIn = "also_in"
        }
    }

    public var tenants: [Tenant]?
    public var apps: [App]?
    /// Access-token lifetime in seconds (default 3599; `refresh_in` is sent from 7200 on).
    public var tokenLifetime: Int?
    public var users: Int?
    /// Synthetic applications (each with its service principal) in the first tenant, seeded with credential cases
    /// (docs/emulator.md).
    public var applications: Int?
    public var seed: String?
    /// Seconds before a new secret is accepted by the token endpoint (AADSTS7000215 meanwhile).
    public var propagationDelay: Double?
    /// Seconds by which Graph's reads of applications (and removePassword) lag writes (docs/protocols.md,
    /// "Graph: credential propagation").
    public var replicationLag: Double?
    /// CA certificates (PEM text, or paths of PEM files) trusted when fetching a federated issuer's discovery document and
    /// keys over HTTPS. Without any, the system's roots.
    public var issuerCA: [String]?
    /// Seconds an issuer's discovery document and keys are reused (default 60; 0 fetches them for every assertion).
    public var issuerCacheSeconds: Double?
    /// `global` (default), `usgov` or `china`: the audience a federated identity credential must name.
    public var cloud: EmulatorCloud?

    public init(tenants: [Tenant]? = nil, apps: [App]? = nil, tokenLifetime: Int? = nil, users: Int? = nil, seed: String? = nil,
                propagationDelay: Double? = nil) {
        self.tenants = tenants; self.apps = apps; self.tokenLifetime = tokenLifetime; self.users = users; self.seed = seed
        self.propagationDelay = propagationDelay
    }

    enum CodingKeys: String, CodingKey {
        case tenants, apps, users, seed, applications
        case tokenLifetime = "token_lifetime", propagationDelay = "propagation_delay", replicationLag = "replication_lag"
        case issuerCA = "issuer_ca", issuerCacheSeconds = "issuer_cache_seconds", cloud
    }

    public static let defaultTenant = Tenant(id: "11111111-1111-1111-1111-111111111111", domain: "contoso.onmicrosoft.com")

    /// One tenant and one demo app with User.Read.All and Application.ReadWrite.OwnedBy that owns itself.
    public static let demoApp = App(
        name: "vault-demo", clientID: "22222222-2222-2222-2222-222222222222",
        roles: ["User.Read.All", "Application.ReadWrite.OwnedBy"], ownsSelf: true)

    public static func load(_ path: String) throws -> EmulatorConfig {
        try JSONDecoder().decode(EmulatorConfig.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
