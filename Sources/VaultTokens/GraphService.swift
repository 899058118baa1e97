import EntraAuth
import FoundationEssentials
import Graph
import Synchronization
import VaultCrypto
import VaultErrors
import VaultHTTP

/// Tokens for Graph from the cache-backed provider; remembers warnings for the CLI to show.
public final class ProviderTokenSource: AccessTokenSource, Sendable {
    let provider: TokenProvider
    let identity: AppIdentity
    let scope: String
    private let notes = Mutex<[String]>([])

    public init(provider: TokenProvider, identity: AppIdentity, scope: String) {
        self.provider = provider
        self.identity = identity
        self.scope = scope
    }

    /// The token of the last call, reused while it is fresh: paging must not re-read the cache file for every page.
    private let current = Mutex<AccessToken?>(nil)

    public func accessToken(rejecting: String?) throws -> String {
        let now = Int64(Date().timeIntervalSince1970)
        if let t = current.withLock({ $0 }), t.secret != rejecting, t.expiresOn - TokenProvider.expiryBuffer > now,
           t.refreshOn.map({ $0 > now }) ?? true {
            return t.secret
        }
        let r = try provider.token(for: identity, scope: scope, rejecting: rejecting)
        notes.withLock { $0 += r.warnings }
        current.withLock { $0 = r.token }
        return r.token.secret
    }

    public var warnings: [String] { notes.withLock { $0 } }
}

/// Use case: Graph calls with a stored app's identity.
public struct GraphService: Sendable {
    public let client: GraphClient
    public let tokens: ProviderTokenSource
    public let session: AppSession

    public static let userAgent = "vault/0.1.0 (+https://github.com/vault; linux)"

    public init(tokenService: TokenService, app: String, onRetry: (@Sendable (Int, Double, Int) -> Void)? = nil,
                retry: GraphRetryPolicy = GraphRetryPolicy()) throws {
        session = try tokenService.session(app: app)
        tokens = ProviderTokenSource(provider: try tokenService.provider(session), identity: session.identity, scope: try session.defaultScope())
        client = GraphClient(root: session.graphRoot, transport: tokenService.transport, tokens: tokens, retry: retry,
                             userAgent: Self.userAgent, onRetry: onRetry)
    }


    /// Streams users page by page to `onPage`; returns how many were delivered.
    @discardableResult
    public func users(_ request: UsersRequest, max: Int?, onPage: (GraphPage, Int) throws -> Void) throws -> Int {
        var r = request
        if r.top == nil, let max, max < 999 { r.top = Swift.max(1, max) }
        var delivered = false
        do {
            return try client.pages(client.url(r.path), headers: r.headers, max: max, permission: .readUsers) { page, take in
                delivered = true
                try onPage(page, take)
            }
        } catch let e as VaultError where e.code == "graph.unsupported_query" && !r.isAdvanced && !delivered {
            // The docs' table is not the whole truth for every tenant: one more try in advanced mode, said on stderr.
            r.forceAdvanced = true
            onNote?("Graph answered Request_UnsupportedQuery; trying again as an advanced query (ConsistencyLevel: eventual, $count=true)")
            return try client.pages(client.url(r.path), headers: r.headers, max: max, permission: .readUsers, onPage)
        }
    }

    /// Where notes for the user go (the CLI prints them as warnings).
    public var onNote: (@Sendable (String) -> Void)?

    public func user(_ key: String, select: [String]) throws -> GraphResponse {
        var path = UsersRequest.single(key)
        if !select.isEmpty { path += "?$select=" + QueryEncoding.encode(select.joined(separator: ",")) }
        return try client.send("GET", path, permission: .readUsers)
    }
}
