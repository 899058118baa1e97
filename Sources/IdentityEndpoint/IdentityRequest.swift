import VaultCrypto

/// Which managed-identity protocol a request spoke (docs/protocols.md, "Managed identity: choosing a source").
public enum IdentityProtocol: String, Sendable {
    /// `GET /msi/token?api-version=2019-08-01&resource=…` with `X-IDENTITY-HEADER` (docs/protocols.md,
    /// "Managed identity: App Service").
    case appService = "app-service"
    /// `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=…` with `Metadata: true`
    /// (docs/protocols.md, "Managed identity: IMDS and Cloud Shell").
    case imds
}

/// A user-assigned identity named by the client, as the SDKs send it.
public enum IdentitySelector: Sendable, Equatable {
    case clientID(String)
    /// `object_id` (MSAL-based clients) or `principal_id` (Go).
    case objectID(String)
    /// `mi_res_id` (App Service) or `msi_res_id` (IMDS): an Azure resource id.
    case resourceID(String)
}

/// A well-formed token request, with who sent it.
public struct IdentityRequest: Sendable {
    public let kind: IdentityProtocol
    /// The resource as sent (`https://graph.microsoft.com`); `scope` is the one scope it stands for.
    public let resource: String
    public let selector: IdentitySelector?
    public let peer: IdentityPeer

    public init(kind: IdentityProtocol, resource: String, selector: IdentitySelector?, peer: IdentityPeer) {
        self.kind = kind
        self.resource = resource
        self.selector = selector
        self.peer = peer
    }

    /// `RESOURCE/.default` (a trailing slash on the resource is not doubled), as azure-identity maps it back.
    public var scope: String { resource.hasSuffix("/") ? resource + ".default" : resource + "/.default" }
}

/// Who sent a request: `127.0.0.1:PORT`, or `unix` with the Unix-socket peer's credentials (`SO_PEERCRED`, read when
/// it connected) and its command name.
public struct IdentityPeer: Sendable, Equatable, ExpressibleByStringLiteral {
    public var address: String
    public var uid: UInt32?
    public var pid: Int32?
    public var command: String?

    public init(address: String, uid: UInt32? = nil, pid: Int32? = nil, command: String? = nil) {
        self.address = address
        self.uid = uid
        self.pid = pid
        self.command = command
    }

    public init(stringLiteral value: String) { self.init(address: value) }
}

/// A token to hand out.
public struct IdentityToken: Sendable {
    /// Readable until the source reuses its memory (then the request is answered as a cache miss).
    public let token: any SecretReadable
    /// Epoch seconds.
    public let expiresOn: Int64
    public let clientID: String

    public init(token: any SecretReadable, expiresOn: Int64, clientID: String) {
        self.token = token
        self.expiresOn = expiresOn
        self.clientID = clientID
    }
}

/// A request the endpoint refuses, answered with `status` and a JSON error body every SDK surfaces.
public struct IdentityRefusal: Error, Sendable, Equatable {
    public let status: Int
    /// OAuth-style code for the IMDS shape (`invalid_request`, `invalid_resource`, `unauthorized_client`, …).
    public let code: String
    public let message: String

    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }
}

/// Where the endpoint gets tokens. It never reads a vault itself: it is handed one of these.
public protocol IdentityTokenSource: Sendable {
    /// A token that needs no file or network I/O (answered on the event loop), or nil.
    func cachedToken(for request: IdentityRequest, now: Int64) throws(IdentityRefusal) -> IdentityToken?
    /// A token, fetching it if needed; runs on a worker thread and may block. Throws `IdentityRefusal`.
    func token(for request: IdentityRequest) throws(IdentityRefusal) -> IdentityToken
}
