import EntraAuth
import FleetBackend
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import VaultCrypto
import VaultErrors
import VaultStore

/// Where a federated app's external token is read from, at a token fetch (a cache miss) and never at a cache hit.
/// Each read hands back a checked `ExternalAssertion` (a compact RS256 JWS with iss, sub, aud and an exp still ahead);
/// the token is not kept past the fetch it was read for.
public protocol ExternalTokenSource: Sendable {
    func read(now: Date) throws -> ExternalAssertion
}

/// `file:PATH`: a token file another program keeps fresh (docs: `FileSystem.readTokenFile` for how it is read).
public struct TokenFileSource: ExternalTokenSource {
    public let path: String
    let readFile: @Sendable (String) throws -> SecretBytes

    public init(path: String) {
        self.init(path: path) { try FileSystem.readTokenFile($0, limit: ExternalAssertion.maxBytes) }
    }

    /// With another way to read the file (the tests' writer caught half-way).
    package init(path: String, readFile: @escaping @Sendable (String) throws -> SecretBytes) {
        self.path = path
        self.readFile = readFile
    }

    /// A file rewritten in place (not replaced by rename) may be caught half-written, or emptied and not yet written:
    /// a token that does not parse, or an empty file, is read once more (after a moment) before vault gives up. An
    /// expired token is reported as it is, without a second read.
    public func read(now: Date) throws -> ExternalAssertion {
        do {
            return try readOnce(now: now)
        } catch let e as VaultError where (e.code == "federated.token" && ["malformed", "empty"].contains(e.context["case"] ?? ""))
            || (e.code == "federated.file" && e.context["case"] == "empty") {
            var pause = timespec(tv_sec: 0, tv_nsec: 50_000_000)
            _ = nanosleep(&pause, nil)
            return try readOnce(now: now)
        }
    }

    func readOnce(now: Date) throws -> ExternalAssertion {
        let bytes = try readFile(path)
        return try ExternalAssertion.parse(bytes, origin: "token file \(path)", now: now)
    }
}

/// `backend:NAME/ROLE`: an identity token of the stored backend's OIDC provider, asked for with this host's login.
public struct BackendIdentityTokenSource: ExternalTokenSource {
    public let backend: String
    public let role: String
    let client: KVClient

    public init(backend: String, role: String, client: KVClient) {
        self.backend = backend
        self.role = role
        self.client = client
    }

    public func read(now: Date) throws -> ExternalAssertion {
        let token = try client.identityToken(role: role)
        return try ExternalAssertion.parse(token, origin: "backend '\(backend)' (role \(role))", now: now)
    }
}

/// The sources a stored app's `federated` names.
public enum ExternalTokenSources {
    /// The source a stored app names: a file, or a backend of this vault (whose login is read now).
    public static func stored(_ source: FederatedSource, backends: BackendService) throws -> any ExternalTokenSource {
        switch source {
        case .file(let path):
            return TokenFileSource(path: path)
        case .backend(let name, let role):
            let found: (BackendRecord, SecretBytes)
            do { found = try backends.get(name) } catch let e as VaultError where e.code == "backend.unknown" {
                throw VaultError("backend.unknown", "the federated token source names backend '\(name)', which is not stored here", context: ["case": "stored", "backend": name])
            }
            return BackendIdentityTokenSource(backend: name, role: role,
                                              client: BackendService.client(found.0, login: found.1, transport: try BackendService.transport(for: found.0)))
        }
    }
}
