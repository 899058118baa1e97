import VaultCrypto
import VaultErrors
import VaultHTTP
import VaultJSON

/// One page of a Graph collection, split into the raw bytes of its items.
public struct GraphPage: Sendable {
    public var body: [UInt8]
    public var items: [Range<Int>]
    public var nextLink: String?
    public var count: Int?

    public init(body: [UInt8]) throws {
        self.body = body
        guard let members = try? JSONScan.members(body) else {
            throw VaultError("graph.response", "Graph's answer is not a JSON object")
        }
        nextLink = members["@odata.nextLink"].flatMap { JSONScan.string(body, $0) }
        count = members["@odata.count"].flatMap { Int(String(decoding: body[$0], as: UTF8.self)) }
        var items: [Range<Int>] = []
        if let value = members["value"] {
            // `members` validated the whole page (the value array included): it is split, not scanned again.
            guard body[value.lowerBound] == UInt8(ascii: "[") else {
                throw VaultError("graph.response", "Graph's page has a value that is not an array")
            }
            items = body.withUnsafeBufferPointer { JSONValid.elements($0, in: value) }
            // Every item of a Graph collection is an object; anything else is not passed on as if it were one.
            if let bad = items.firstIndex(where: { body[$0.lowerBound] != UInt8(ascii: "{") }) {
                throw VaultError("graph.response", "item \(bad + 1) of Graph's page is not a JSON object")
            }
        }
        self.items = items
    }

    public func item(_ i: Int) -> ArraySlice<UInt8> { body[items[i]] }
}

extension GraphClient {
    /// At 999 items a page, 100 million items.
    static let maxPages = 100_000

    /// Follows `@odata.nextLink` from `first` until the end or until `max` items, handing each page to `onPage`
    /// (with at most the items still wanted) as it arrives. Headers such as ConsistencyLevel go on every page.
    /// Returns the number of items delivered.
    @discardableResult
    public func pages(_ first: String, headers: [(String, String)] = [], max: Int? = nil, permission: GraphPermission? = nil,
                      _ onPage: (GraphPage, Int) throws -> Void) throws -> Int {
        var next: String? = first
        var delivered = 0
        // A server that hands back a link it already gave (or never stops) must not keep vault paging forever.
        var seen: Set<String> = [first]
        var pageCount = 0
        while let url = next {
            if let max, delivered >= max { break }
            if url != first { try checkSameOrigin(url) }
            pageCount += 1
            guard pageCount <= Self.maxPages else {
                throw VaultError("graph.paging", "Graph kept sending pages: stopped after \(Self.maxPages)", context: ["case": "limit"])
            }
            let response = try send("GET", url, headers: headers, permission: permission)
            let page = try GraphPage(body: response.body)
            let take = max.map { Swift.min(page.items.count, $0 - delivered) } ?? page.items.count
            try onPage(page, take)
            delivered += take
            next = page.nextLink
            if let link = next, !seen.insert(link).inserted {
                throw VaultError("graph.paging", "Graph's @odata.nextLink repeats a page already read (after \(delivered) items); stopped instead of looping", context: ["case": "loop"])
            }
        }
        return delivered
    }
}

/// What a Graph call needs granted to the app, handed to the CLI in a refusal's context (`permission`) so it can say
/// which permission to grant.
public enum GraphPermission: String, Sendable {
    /// Application.ReadWrite.OwnedBy with the app as its own owner, or Application.ReadWrite.All.
    case ownCredentials = "own_credentials"
    /// Application.Read.All (or Directory.Read.All).
    case readApplications = "read_applications"
    /// User.Read.All (or Directory.Read.All).
    case readUsers = "read_users"
}
