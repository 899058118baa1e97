import FoundationEssentials
import VaultCrypto

/// An Entra ID app stored in the vault. Everything here is public metadata; the secrets live in `secrets`.
public struct AppMetadata: Codable, Equatable, Sendable {
    public var name: String
    public var tenant: String
    public var clientID: String
    public var cloud: String
    public var authority: String?
    /// Graph root override (the emulator's, say); nil means the cloud's Graph.
    public var graphRoot: String?
    public var secretHint: String
    public var added: Date
    public var rotated: Date?
    /// keyId of the current secret at Entra ID, once known (set by a rotation).
    public var secretKeyID: String?
    public var secretExpires: Date?
    public var previousKeyID: String?
    /// The tenant id (`tid`) of the first token the app received: the cache realm from then on, so an app stored
    /// with a domain tenant never matches a token issued for another tenant.
    public var tenantID: String?
    /// The scope tokens are asked for by default (`add-app --scope`); nil: the Graph host's `/.default`.
    public var scope: String?
    /// A certificate credential (its private key is the record's secret "certificate_key"): the certificate, base64
    /// DER, and the facts shown without parsing it.
    public var certificate: String?
    public var certificateChain: [String]?
    public var certificateSHA1: String?
    public var certificateSHA256: String?
    public var certificateExpires: Date?
    public var certificateSubject: String?
    /// keyId of the certificate at Entra ID, once known (set by a certificate rotation).
    public var certificateKeyID: String?
    /// "certificate" or "secret" when the app holds both (`--use`); nil: the certificate if there is one.
    public var credentialUse: String?
    /// "PS256" (nil) or "RS256" for client assertions.
    public var assertionAlgorithm: String?
    /// Send the certificate chain in `x5c` (subject-name/issuer authentication).
    public var sendX5C: Bool?
    /// A fleet backend (a stored `backend` record's name) holds this app's secret; the local record holds none.
    public var backend: String?
    /// The app's path in the backend's KV mount (prefix + tenant + name), and the KV version last read or written.
    public var backendPath: String?
    public var backendVersion: Int?
    /// A federated credential: where the external token comes from (`file:PATH` or `backend:NAME/ROLE`); the record
    /// holds no secret for it.
    public var federated: String?
    /// The federated identity credential `vault federate` made on the app registration for it: its name, issuer and
    /// subject (for `vault show`; Graph holds the list, `vault status` reads it).
    public var federatedCredential: String?
    public var federatedIssuer: String?
    public var federatedSubject: String?

    public init(name: String, tenant: String, clientID: String, cloud: String, authority: String?, secretHint: String,
                added: Date) {
        self.name = name
        self.tenant = tenant
        self.clientID = clientID
        self.cloud = cloud
        self.authority = authority
        self.secretHint = secretHint
        self.added = added
    }

    enum CodingKeys: String, CodingKey {
        case name, tenant, cloud, authority, added, rotated
        case clientID = "client_id", graphRoot = "graph_root", secretHint = "secret_hint", secretKeyID = "secret_key_id"
        case secretExpires = "secret_expires", previousKeyID = "previous_key_id", tenantID = "tenant_id", scope
        case certificate, certificateChain = "certificate_chain", certificateSHA1 = "certificate_sha1"
        case certificateSHA256 = "certificate_sha256", certificateExpires = "certificate_expires"
        case certificateSubject = "certificate_subject", certificateKeyID = "certificate_key_id"
        case credentialUse = "credential_use", assertionAlgorithm = "assertion_algorithm", sendX5C = "send_x5c"
        case backend, backendPath = "backend_path", backendVersion = "backend_version", federated
        case federatedCredential = "federated_credential", federatedIssuer = "federated_issuer", federatedSubject = "federated_subject"
    }

    /// Which credential tokens are fetched with: `--use`, else the certificate when there is one.
    public var usesCertificate: Bool { certificate != nil && credentialUse != "secret" }
}

/// An app record: its metadata and whichever credentials it holds (a client secret, a certificate key, or both).
public struct StoredApp: Sendable {
    public var metadata: AppMetadata
    /// The client secret ("current"), and the one it replaced while a rotation keeps it ("previous").
    public var secret: SecretBytes?
    public var previous: SecretBytes?
    /// The certificate's RSA private key, DER ("certificate_key").
    public var certificateKey: SecretBytes?

    public init(metadata: AppMetadata, secret: SecretBytes?, previous: SecretBytes? = nil, certificateKey: SecretBytes? = nil) {
        self.metadata = metadata
        self.secret = secret
        self.previous = previous
        self.certificateKey = certificateKey
    }

    public static let secretName = "current", previousName = "previous", certificateKeyName = "certificate_key"
}

/// One record: JSON metadata and named secrets. Kinds: "app" (secrets "current" and optionally "previous" for a client
/// secret, "certificate_key" for a certificate; at least one credential, unless a fleet backend holds the secret or the
/// credential is federated) and "rotation" (a rotation journal entry).
public struct StoredRecord: Sendable {
    public var kind: String
    public var name: String
    public var metadata: [UInt8]
    public var secrets: [String: SecretBytes]

    public init(kind: String, name: String, metadata: [UInt8], secrets: [String: SecretBytes]) {
        self.kind = kind
        self.name = name
        self.metadata = metadata
        self.secrets = secrets
    }
}

/// The record kinds of `vault.db` (docs/FORMAT.md §4.3).
public enum RecordKind {
    public static let app = "app"
    /// A password rotation's journal.
    public static let passwordRotation = "rotation"
    /// A certificate rotation's journal.
    public static let certificateRotation = "cert-rotation"
    /// A move to a federated credential (`vault federate`): its journal.
    public static let federation = "federation"
    public static let backend = "backend"
}
