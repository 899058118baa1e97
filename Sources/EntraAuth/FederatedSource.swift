import VaultErrors

/// Where a federated app's external token comes from (`add-app --federated SOURCE`, stored as its text in the app's
/// metadata, docs/FORMAT.md §4.3 `federated`):
/// - `file:PATH` — a token file someone else keeps fresh (a Kubernetes projected service-account token,
///   `AZURE_FEDERATED_TOKEN_FILE`, tbot's JWT-SVID); read again at each token fetch, never at a cache hit;
/// - `backend:NAME/ROLE` — an identity token of OpenBao / HashiCorp Vault (`GET /v1/identity/oidc/token/ROLE`),
///   asked for with this host's login to the stored backend NAME.
/// The source names where the token is; it holds no secret.
public enum FederatedSource: Sendable, Equatable, CustomStringConvertible {
    case file(String)
    case backend(name: String, role: String)

    public var description: String {
        switch self {
        case .file(let path): return "file:" + path
        case .backend(let name, let role): return "backend:\(name)/\(role)"
        }
    }

    /// The kind, for messages and `vault show`: `file` or `backend`.
    public var kind: String {
        switch self {
        case .file: return "file"
        case .backend: return "backend"
        }
    }

    static let nameCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")

    /// Parses `file:PATH` (an absolute path: the token is read later, from whatever directory vault then runs in) or
    /// `backend:NAME/ROLE` (letters, digits, `-`, `_`, `.`). Errors carry `case` for the CLI's words.
    public static func parse(_ text: String) throws -> FederatedSource {
        if text.hasPrefix("file:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else {
                throw VaultError("federated.source", "the token file of federated source '\(text)' is empty", context: ["case": "file", "value": text])
            }
            guard path.hasPrefix("/") else {
                throw VaultError("federated.source", "the token file '\(path)' is not an absolute path", context: ["case": "relative", "value": text])
            }
            guard path.utf8.count <= 4096, !path.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) else {
                throw VaultError("federated.source", "the token file path is longer than 4096 bytes or holds control characters", context: ["case": "file", "value": "file:…"])
            }
            return .file(path)
        }
        if text.hasPrefix("backend:") {
            let parts = text.dropFirst(8).split(separator: "/", omittingEmptySubsequences: false)
            // The role becomes a path segment of the backend's API: no `.` or `..`, nothing that starts with a dot.
            guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.count <= 128 && !$0.hasPrefix(".") && $0.allSatisfy(nameCharacters.contains) }) else {
                throw VaultError("federated.source", "'\(text)' is not backend:NAME/ROLE (letters, digits, - _ ., not starting with a dot)", context: ["case": "backend", "value": text])
            }
            return .backend(name: String(parts[0]), role: String(parts[1]))
        }
        throw VaultError("federated.source", "'\(text)' is neither file:PATH nor backend:NAME/ROLE", context: ["case": "kind", "value": text])
    }
}
