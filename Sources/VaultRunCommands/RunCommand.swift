import ArgumentParser
import FoundationEssentials
import Graph
import VaultCLI
import VaultCore
import VaultJSON
import VaultTokens
import VaultRotation
import VaultCrypto
import VaultHTTP
import VaultStore
import VaultFormat
import VaultRecords

package struct RunCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Call Microsoft Graph with a stored app's identity.",
        subcommands: [RunUsersCommand.self, RunUserCommand.self, RunGetCommand.self, RunPostCommand.self, RunPatchCommand.self,
                      RunDeleteCommand.self]
    )
}

package struct RunUsersCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "List the tenant's users, every page, streamed.",
        discussion: """
        Graph answers some user queries only in *advanced* mode (ConsistencyLevel: eventual and $count=true). vault \
        sends a query in advanced mode whenever it uses $search or --count, or a filter clause outside the docs' \
        default table (for example companyName, mobilePhone, ne, not, endswith, eq null, assignedLicenses/$count, \
        startswith on jobTitle), or a sort other than displayName/userPrincipalName alone (any sort with --filter). If \
        Graph still answers Request_UnsupportedQuery, vault tries once more in advanced mode and says so on stderr.
        """
    )
    @OptionGroup package var options: GraphOptions
    @Argument(help: "The app's name.") package var app: String
    @Option(help: ArgumentHelp("Properties to return, comma-separated.", valueName: "a,b")) var select: String?
    @Option(help: ArgumentHelp("OData $filter expression.", valueName: "expr")) var filter: String?
    @Option(help: ArgumentHelp("$search expression, e.g. '\"displayName:ada\"'.", valueName: "expr")) var search: String?
    @Option(help: ArgumentHelp("Order by displayName or userPrincipalName [asc|desc].", valueName: "p")) var orderby: String?
    @Option(help: ArgumentHelp("Page size, 1–999 (default: the largest Graph allows, 999, or 500 with signInActivity).", valueName: "n")) var top: Int?
    @Option(help: ArgumentHelp("Stop after this many users.", valueName: "n")) var max: Int?
    @Flag(help: "Ask Graph for the total count (printed on stderr).") var count = false
    @Option(help: "Output: json, ndjson, csv or table.") package var output: OutputFormat = .json

    package static let defaultColumns = ["displayName", "userPrincipalName", "mail", "jobTitle", "id"]

    /// Without `--top`, the largest page Graph allows (999; 500 with `signInActivity` selected or filtered,
    /// docs/protocols.md, "Graph: listing users"), or `--max` when that is smaller: Graph's own default of 100 made
    /// 100,000 users 1,000 requests.
    static func defaultPageSize(select: [String], filter: String?, max: Int?) -> Int {
        let signIn = select.contains { $0.lowercased() == "signinactivity" } || (filter?.lowercased().contains("signinactivity") ?? false)
        let largest = signIn ? 500 : 999
        return max.map { Swift.min($0, largest) } ?? largest
    }

    package func validate() throws {
        if let top, !(1...999).contains(top) { throw ValidationError("--top must be between 1 and 999") }
        if let max, max < 1 { throw ValidationError("--max must be at least 1") }
    }

    package func run() throws {
        var request = UsersRequest()
        request.select = select.map { $0.split(separator: ",").map { $0.trimmed }.filter { !$0.isEmpty } } ?? []
        request.filter = filter
        request.search = search
        request.orderBy = orderby
        request.top = top ?? Self.defaultPageSize(select: request.select, filter: filter, max: max)
        request.count = count
        let progress = Progress(enabled: options.progressEnabled)
        let service = try options.service(app: app, progress: progress)
        let columns = request.select.isEmpty ? (output == .csv ? UserColumns.defaults : Self.defaultColumns) : request.select
        let formatter = ItemFormatter(format: output, columns: columns, pretty: Console.stdoutIsTerminal)
        // Nothing is written before Graph's first page arrived: an error before it leaves stdout empty (no lone
        // table header, CSV header or JSON '[').
        var begun = false
        var pages = 0, items = 0
        defer { progress.finish() }
        do {
            try service.users(request, max: max) { page, take in
                if !begun { formatter.begin(); begun = true }
                if pages == 0, let total = page.count, count { progress.finish(); Console.err("\(total) users in total") }
                formatter.page(page, take: take)
                pages += 1
                items += take
                progress.update(items: items, pages: pages)
            }
        } catch {
            if begun { formatter.end() }
            throw error
        }
        if !begun { formatter.begin() }
        formatter.end()
        for w in service.tokens.warnings { Console.warn(w) }
    }
}

package enum UserColumns {
    package static let defaults = ["businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
                           "preferredLanguage", "surname", "userPrincipalName", "id"]
}

package struct RunUserCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(commandName: "user", abstract: "Show one user by id or userPrincipalName.")
    @OptionGroup package var options: GraphOptions
    @Argument(help: "The app's name.") package var app: String
    @Argument(help: "The user's id or userPrincipalName.") var user: String
    @Option(help: ArgumentHelp("Properties to return, comma-separated.", valueName: "a,b")) var select: String?

    package func run() throws {
        let service = try options.service(app: app, progress: nil)
        let r = try service.user(user, select: select.map { $0.split(separator: ",").map(String.init) } ?? [])
        RawOutput.write(r.body)
    }
}

enum RawOutput {
    /// A response body: pretty on a terminal, as received otherwise. Secrets Graph returns (addPassword's
    /// `secretText`, any `access_token`) are withheld: vault never prints a secret.
    static func write(_ original: [UInt8]) {
        guard !original.isEmpty else { return }
        var body = original
        let text = String(decoding: original, as: UTF8.self)
        let redacted = Redaction.json(text)
        if redacted != text {
            body = Array(redacted.utf8)
            Console.warn("a secret in Graph's answer was replaced by [REDACTED]: vault never prints secrets (rotate with `vault rotate-secret`)")
        }
        let out = OutputWriter()
        if Console.stdoutIsTerminal, body.first == 0x7b || body.first == 0x5b { out.write(JSONPretty.format(body)) } else { out.write(body) }
        if body.last != 0x0a { out.write([0x0a]) }
        out.flush()
    }
}
