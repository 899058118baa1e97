import ArgumentParser
import FoundationEssentials
import VaultCLI
import VaultCore
import VaultErrors
import VaultTokens
import VaultRotation
import VaultCrypto
import VaultStore
import VaultFormat
import VaultRecords

package struct AuditCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Show the audit log: every secret use and every token handed out, one JSON line each.",
        discussion: """
        Lines never hold a token or a secret. Fields: time (UTC), event (token.handout, entra.token_request, \
        rotation.step), app, client_id, resource, command, pid, child_pid, peer, source (cache or fetch), \
        correlation_id, step, outcome (ok or an error code).
        """
    )

    @OptionGroup package var options: VaultOptions
    @Option(help: ArgumentHelp("Only events since this long ago (30s, 15m, 2h, 7d) or this UTC time (2026-12-01 or 2026-12-01T10:00:00Z).", valueName: "when"))
    package var since: String?
    @Option(help: ArgumentHelp("Only events of this app.", valueName: "name")) var app: String?
    @Option(help: ArgumentHelp("Only events of this kind (token.handout, entra.token_request, rotation.step).", valueName: "kind")) var event: String?

    package struct Line: Decodable { var time: String; var app: String?; var event: String? }

    package func run() throws {
        let cutoff = try since.map { try Self.cutoff($0, now: Date()) }
        let path: String
        switch NetworkOptions.auditTarget(try options.directory()) {
        case .file(let p): path = p
        case .standardError:
            throw VaultError("audit.stderr", "VAULT_AUDIT_LOG=stderr: the audit log went to standard error (the journal), not a file")
        }
        let decoder = JSONDecoder()
        var skipped = 0
        for line in try AuditLogFile.lines(at: path) {
            guard let parsed = try? decoder.decode(Line.self, from: Data(line.utf8)) else { skipped += 1; continue }
            if let cutoff, parsed.time < cutoff { continue }
            if let app, parsed.app != app { continue }
            if let event, parsed.event != event { continue }
            Console.out(String(line))
        }
        if skipped > 0 { Console.warn("\(skipped) line\(skipped == 1 ? "" : "s") of \(path) \(skipped == 1 ? "is" : "are") not audit events and were skipped") }
    }

    /// The earliest timestamp shown, as a string that compares with the log's RFC 3339 UTC times.
    static func cutoff(_ text: String, now: Date) throws -> String {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let unit = text.last, let scale = units[unit], let n = Double(text.dropLast()), n >= 0, n < 1e7 {
            return AuditEvent.timestamp(now.addingTimeInterval(-n * scale))
        }
        let digits = text.utf8.map { $0 }
        let shapeOK = digits.count >= 10 && digits.count <= 24 && digits.enumerated().allSatisfy { i, c in
            switch i {
            case 4, 7: return c == UInt8(ascii: "-")
            case 10: return c == UInt8(ascii: "T")
            case 13, 16: return c == UInt8(ascii: ":")
            default: return (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "Z") || c == UInt8(ascii: ".")
            }
        }
        guard shapeOK else {
            throw VaultError("usage", "--since \(text) is neither a duration (30s, 15m, 2h, 7d) nor a UTC time (2026-12-01T10:00:00Z)")
        }
        return text.hasSuffix("Z") ? String(text.dropLast()) : text
    }
}
