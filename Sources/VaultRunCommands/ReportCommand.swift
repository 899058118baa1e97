import ArgumentParser
import FoundationEssentials
import Graph
import VaultCLI
import VaultCore
import VaultErrors
import VaultTokens
import VaultCrypto

package enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, ndjson, csv, openmetrics
}

package struct ReportCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Credential hygiene for the whole tenant: every application's and service principal's secrets, certificates and federated credentials.",
        discussion: """
        APP is a stored app with Application.Read.All (or Directory.Read.All). Reads /applications (with their federated \
        identity credentials) and /servicePrincipals, 999 a page, streamed, throttling honoured as for `run users`. \
        Findings per credential: expired; expiring (within --within); long_lived (end − start over --max-lifetime); \
        several_secrets (more than one active secret on one object: a failed rotation's leftover, vault's own rotation \
        names recognised); secret_with_stronger (a secret on an object that also has a valid certificate or a federated \
        credential); mutable_subject (a federated credential trusting a name-based subject: GitHub's repo:OWNER/REPO \
        without the @id form, GitLab project_path:, HCP Terraform organization:); managed_by_vault (held by this vault, \
        with its rotation due date: end − --within). \
        Table output lists the credentials with findings; json, ndjson and csv list every credential; openmetrics \
        writes gauges for node_exporter's textfile collector. \
        Exit status: 0 nothing to report, 1 a warning (long_lived, several_secrets, secret_with_stronger, \
        mutable_subject), 2 critical (expired, expiring); errors use 64 and above.
        """
    )

    @OptionGroup var options: GraphOptions
    @Argument(help: "The stored app that reads the tenant (Application.Read.All).") var app: String
    @Option(help: ArgumentHelp("Report credentials expiring within this long: N followed by h, d or w (default 30d).", valueName: "duration"))
    var within = "30d"
    @Option(name: .customLong("max-lifetime"), help: ArgumentHelp("Flag credentials whose lifetime is longer than this (default 180d).", valueName: "duration"))
    package var maxLifetime = "180d"
    @Option(help: "Output: table, json, ndjson, csv or openmetrics.") package var output: ReportFormat = .table

    /// `30d`, `12h`, `2w` → seconds, 1 hour to 10 years.
    static func duration(_ text: String, option: String) throws -> TimeInterval {
        let units: [Character: Double] = ["h": 3600, "d": 86_400, "w": 604_800]
        guard let unit = text.last, let factor = units[unit], let n = Int(text.dropLast()), n > 0, Double(n) * factor <= 3653 * 86_400 else {
            throw VaultError("usage", "\(option) \(text) is not a duration such as 30d, 12h or 2w (at most 10 years)", context: ["case": "report_duration", "option": option])
        }
        return Double(n) * factor
    }

    package func run() throws {
        let policy = ReportPolicy(within: try Self.duration(within, option: "--within"),
                                  maxLifetime: try Self.duration(maxLifetime, option: "--max-lifetime"))
        let progress = Progress(enabled: options.progressEnabled)
        let tokens = try options.network.tokenService(options.vault)
        let managed = try CredentialReportService.managedCredentials(tokens)
        let graph = try RotationService.usingApp(app, tokens: tokens, checkpoint: TestHooks.checkpoint, note: Console.warn) { tokens in
            var service = try GraphService(tokenService: tokens, app: app, onRetry: { attempt, delay, status in
                progress.note("Graph answered \(status); retry \(attempt) in \(Int(delay.rounded())) s")
            })
            service.onNote = { Console.warn($0) }
            return service
        }
        let started = ContinuousClock.now
        let writer = try ReportWriter(format: output, policy: policy)
        var begun = false
        var seen = 0
        let summary: ReportSummary
        defer { progress.finish() }
        // An error ends the run here: openmetrics output is spooled, so nothing of it was written (see ReportWriter).
        summary = try CredentialReportService(graph: graph).run(policy: policy, managed: managed) { records in
            if !begun { writer.begin(); begun = true }
            writer.write(records)
            seen += 1
            if seen % 500 == 0 { progress.update(items: seen, pages: seen / DirectoryCredentials.pageSize + 1) }
        }
        if !begun { writer.begin() }
        let elapsed = started.duration(to: .now)
        writer.end(summary, seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        progress.finish()
        if !options.quiet { Console.err(ReportWriter.summaryLine(summary)) }
        for w in graph.tokens.warnings { Console.warn(w) }
        if summary.severity != .info { throw ExitCode(Int32(summary.severity.rawValue)) }
    }
}
