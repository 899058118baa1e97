import ArgumentParser
import Graph
import VaultCLI
import VaultCore
import VaultErrors
import VaultTokens
import VaultRotation
import VaultCrypto
import VaultHTTP
import VaultStore
import VaultFormat
import VaultRecords

/// `vault run get|post|patch|delete APP PATH`: any Graph call, like `az rest`, with vault's auth, retries and errors.
package struct RestOptions: ParsableArguments {
    package init() {}
    @OptionGroup package var graph: GraphOptions
    @Argument(help: "The app's name.") package var app: String
    @Argument(help: "A Graph path such as /users/$count or /applications (relative to /v1.0; /beta/… for the beta API), or a full Graph URL.") var path: String
    @Option(name: .customLong("query"), help: ArgumentHelp("A query parameter k=v (repeatable), encoded for you.", valueName: "k=v"))
    package var query: [String] = []
    @Option(name: .customLong("header"), help: ArgumentHelp("An extra header 'Name: value' (repeatable), e.g. 'ConsistencyLevel: eventual'.", valueName: "h"))
    package var header: [String] = []

    package func target() throws -> String {
        var items: [String] = []
        for q in query {
            guard let eq = q.firstIndex(of: "="), eq != q.startIndex else {
                throw VaultError("usage", "--query '\(q)' is not k=v")
            }
            items.append(QueryEncoding.encode(String(q[..<eq]), keep: "$") + "=" + QueryEncoding.encode(String(q[q.index(after: eq)...])))
        }
        guard !items.isEmpty else { return path }
        return path + (path.contains("?") ? "&" : "?") + items.joined(separator: "&")
    }

    /// Names vault sets itself, or that would change how the request is framed: never taken from --header.
    package static let reservedHeaders: Set<String> = ["authorization", "proxy-authorization", "host", "content-length", "transfer-encoding",
                                               "connection", "te", "upgrade", "cookie"]

    package func headers() throws -> [(String, String)] {
        try header.map { h in
            guard let colon = h.firstIndex(of: ":") else { throw VaultError("usage", "--header '\(TerminalText.escaped(h))' is not 'Name: value'") }
            let name = String(h[..<colon]).trimmed
            let value = String(h[h.index(after: colon)...]).trimmed
            if let problem = HeaderRules.problem(name: name, value: value) {
                throw VaultError("usage", "--header '\(TerminalText.escaped(h))' cannot be sent: \(problem)", context: ["case": "header"])
            }
            if Self.reservedHeaders.contains(name.lowercased()) {
                throw VaultError("usage", "--header cannot set \(name): vault sets it itself (the app's token goes only in vault's own Authorization header)")
            }
            return (name, value)
        }
    }

    package func validate() throws {
        do { _ = try headers() } catch let e as VaultError { throw ValidationError(e.reason) }
    }

    package func send(_ method: String, body: [UInt8]?, follow: Bool = false) throws {
        let service = try graph.service(app: app, progress: nil)
        let r = try service.client.send(method, try target(), headers: try headers(), body: body, followRedirects: follow)
        RawOutput.write(r.body)
        for w in service.tokens.warnings { Console.warn(w) }
    }
}

package struct RunGetCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(commandName: "get", abstract: "GET a Graph path.")
    @OptionGroup package var rest: RestOptions
    @Flag(name: .customLong("all-pages"), help: "Follow @odata.nextLink and print every item as one JSON array.") var allPages = false
    @Flag(help: "Follow a redirect (a report download to storage, say). The token is never sent to another origin.") var follow = false

    package func run() throws {
        guard allPages else { return try rest.send("GET", body: nil, follow: follow) }
        let progress = Progress(enabled: rest.graph.progressEnabled)
        let service = try rest.graph.service(app: rest.app, progress: progress)
        let formatter = ItemFormatter(format: .json, columns: [], pretty: Console.stdoutIsTerminal)
        var begun = false
        var pages = 0, items = 0
        defer { progress.finish() }
        defer { if begun { formatter.end() } }
        try service.client.pages(service.client.url(try rest.target()), headers: try rest.headers()) { page, take in
            if !begun { formatter.begin(); begun = true }
            formatter.page(page, take: take)
            pages += 1
            items += take
            progress.update(items: items, pages: pages)
        }
    }
}

/// Reads `--body FILE` or `--body -` (stdin).
package struct BodyOption: ParsableArguments {
    package init() {}
    @Option(help: ArgumentHelp("JSON request body from a file, or - for stdin.", valueName: "file|-")) var body: String?

    package func bytes() throws -> [UInt8]? {
        guard let body else { return nil }
        let secret = body == "-" ? try Prompts.readStdinBody() : try FileSystem.readSecret(body, limit: 4 << 20)
        return secret.withUnsafeBytes { Array($0) }
    }
}

package struct RunPostCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(commandName: "post", abstract: "POST to a Graph path.")
    @OptionGroup package var rest: RestOptions
    @OptionGroup package var body: BodyOption
    package func run() throws { try rest.send("POST", body: try body.bytes() ?? Array("{}".utf8)) }
}

package struct RunPatchCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(commandName: "patch", abstract: "PATCH a Graph path.")
    @OptionGroup package var rest: RestOptions
    @OptionGroup package var body: BodyOption
    package func run() throws {
        guard let b = try body.bytes() else { throw VaultError("usage", "patch needs --body FILE or --body -") }
        try rest.send("PATCH", body: b)
    }
}

package struct RunDeleteCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(commandName: "delete", abstract: "DELETE a Graph path.")
    @OptionGroup package var rest: RestOptions
    package func run() throws { try rest.send("DELETE", body: nil) }
}
