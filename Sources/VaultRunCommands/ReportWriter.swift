import FoundationEssentials
import Graph
import VaultCLI
import VaultCore
import VaultErrors
import VaultJSON
import VaultTokens
import VaultCrypto
#if canImport(Glibc)
import Glibc
#endif

/// Renders `vault report` records as they stream in. Table lists the credentials with findings; json, ndjson and csv
/// every credential; openmetrics is spooled to unlinked temporary files and written only once the whole tenant was
/// read, so an error leaves stdout empty (and a textfile collector's file untouched) and memory stays flat.
package final class ReportWriter {
    package let format: ReportFormat
    package let policy: ReportPolicy
    package let out = OutputWriter()
    private var count = 0
    private var scratch: [UInt8] = []
    private var calls = 0
    private var expirySpool: Spool?
    private var findingSpool: Spool?

    package init(format: ReportFormat, policy: ReportPolicy) throws {
        self.format = format
        self.policy = policy
        if format == .openmetrics {
            expirySpool = try Spool()
            findingSpool = try Spool()
        }
    }

    package static let csvColumns = ["object_type", "app_id", "display_name", "credential", "key_id", "end", "findings"]

    package func begin() {
        switch format {
        case .table: out.write(Self.tableRow(["OBJECT", "DISPLAY NAME", "APP ID", "CREDENTIAL", "KEY ID", "END", "FINDINGS"]))
        case .json: out.write("{\"credentials\":[")
        case .csv: out.write(Self.csvColumns.joined(separator: ",") + "\r\n")
        case .ndjson, .openmetrics: break
        }
    }

    package func write(_ records: [ReportRecord]) {
        for r in records {
            switch format {
            case .table:
                guard !r.findings.isEmpty else { continue }
                var findings = r.findings.map(\.rawValue).joined(separator: ",")
                if let owner = r.managedBy { findings += " [\(owner), rotate by \(r.rotationDue.map(Self.day) ?? "-")]" }
                if r.vaultRotationName, r.findings.contains(.severalSecrets) { findings += " (vault rotation leftover)" }
                out.write(Self.tableRow([r.objectType == .application ? "app" : "sp", TerminalText.escaped(r.displayName), r.appID,
                                         r.credential.kind.rawValue, r.credential.keyID, r.credential.end.map(Self.day) ?? "-", findings]))
            case .json:
                if count > 0 { scratch.append(0x2c) }
                Self.jsonBytes(r, into: &scratch)
            case .ndjson:
                Self.jsonBytes(r, into: &scratch)
                scratch.append(0x0a)
            case .csv:
                out.write([r.objectType.rawValue, r.appID, r.displayName, r.credential.kind.rawValue, r.credential.keyID,
                           r.credential.end.map(GraphTimestamps.format) ?? "", r.findings.map(\.rawValue).joined(separator: ";")]
                    .map(ItemFormatter.csvField).joined(separator: ",") + "\r\n")
            case .openmetrics:
                guard !r.findings.isEmpty else { continue }
                let labels = Self.labels([("object_type", r.objectType.rawValue), ("app_id", r.appID), ("display_name", r.displayName),
                                          ("credential", r.credential.kind.rawValue), ("key_id", r.credential.keyID)])
                if let end = r.credential.end {
                    expirySpool?.write("vault_report_credential_expiry_timestamp_seconds{\(labels)} \(Int64(end.timeIntervalSince1970))\n")
                }
                for f in r.findings {
                    findingSpool?.write("vault_report_credential_finding{\(labels),finding=\"\(f.rawValue)\",severity=\"\(f.severity.label)\"} 1\n")
                }
            }
            count += 1
        }
        if !scratch.isEmpty {
            out.write(scratch)
            scratch.removeAll(keepingCapacity: true)
        }
        // One write(2) per ~256 objects, not per object: output still streams, page by page.
        calls += 1
        if calls % 256 == 0 { out.flush() }
    }

    package func end(_ s: ReportSummary, seconds: Double) {
        switch format {
        case .json:
            out.write("],\"summary\":" + Self.summaryJSON(s) + "}\n")
        case .openmetrics:
            out.write("# HELP vault_report_credential_expiry_timestamp_seconds End of validity of each credential with a finding.\n")
            out.write("# TYPE vault_report_credential_expiry_timestamp_seconds gauge\n")
            out.flush()
            expirySpool?.copy(to: out)
            out.write("# HELP vault_report_credential_finding A finding on a credential (1 while it holds).\n")
            out.write("# TYPE vault_report_credential_finding gauge\n")
            out.flush()
            findingSpool?.copy(to: out)
            out.write("# HELP vault_report_findings Credentials with each finding in the tenant.\n# TYPE vault_report_findings gauge\n")
            for f in CredentialFinding.allCases {
                out.write("vault_report_findings{finding=\"\(f.rawValue)\",severity=\"\(f.severity.label)\"} \(s.findings[f] ?? 0)\n")
            }
            out.write("# HELP vault_report_objects Applications and service principals read.\n# TYPE vault_report_objects gauge\n")
            for t in [CredentialHolder.ObjectType.application, .servicePrincipal] {
                out.write("vault_report_objects{object_type=\"\(t.rawValue)\"} \(s.objects[t] ?? 0)\n")
            }
            out.write("# HELP vault_report_credentials Credentials read, by kind.\n# TYPE vault_report_credentials gauge\n")
            for k in [ListedCredential.Kind.password, .certificate, .federated] {
                out.write("vault_report_credentials{credential=\"\(k.rawValue)\"} \(s.credentials[k] ?? 0)\n")
            }
            out.write("# HELP vault_report_severity Worst finding: 0 none, 1 warning, 2 critical (the exit status).\n# TYPE vault_report_severity gauge\n")
            out.write("vault_report_severity \(s.severity.rawValue)\n")
            out.write("# HELP vault_report_duration_seconds Time the report took.\n# TYPE vault_report_duration_seconds gauge\n")
            out.write("vault_report_duration_seconds \(Double(Int((seconds * 1000).rounded())) / 1000)\n")
            out.write("# HELP vault_report_last_run_timestamp_seconds When the report finished.\n# TYPE vault_report_last_run_timestamp_seconds gauge\n")
            out.write("vault_report_last_run_timestamp_seconds \(Int64(Date().timeIntervalSince1970))\n")
            out.write("# EOF\n")
        case .table, .ndjson, .csv: break
        }
        out.flush()
    }

    package static func summaryLine(_ s: ReportSummary) -> String {
        let found = CredentialFinding.allCases.compactMap { f in s.findings[f].map { "\($0) \(f.rawValue)" } }
        let creds = s.credentials.values.reduce(0, +)
        return "\(s.objects[.application] ?? 0) applications, \(s.objects[.servicePrincipal] ?? 0) service principals, \(creds) credentials"
            + (found.isEmpty ? "; nothing to report" : ": " + found.joined(separator: ", "))
    }

    package static func day(_ d: Date) -> String { String(GraphTimestamps.format(d).prefix(10)) }

    package static func tableRow(_ cells: [String]) -> String {
        let widths = [6, 40, 36, 11, 36, 10]
        var line = ""
        for (i, c) in cells.enumerated() {
            if i < widths.count {
                let cut = c.count > widths[i] ? String(c.prefix(widths[i] - 1)) + "…" : c
                line += cut + String(repeating: " ", count: max(1, widths[i] - cut.count + 1))
            } else {
                line += c
            }
        }
        return line + "\n"
    }

    // MARK: JSON (vault's one escaping rule: JSONWriter)

    package static func string(_ s: String) -> String {
        var b: [UInt8] = []
        appendString(s, to: &b)
        return String(decoding: b, as: UTF8.self)
    }

    /// Appends `s` as a JSON string with vault's one escaping rule (`JSONWriter`).
    package static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        var s = s
        s.withUTF8 { bytes in for c in bytes { JSONWriter.escape(c, into: &out) } }
        out.append(0x22)
    }

    package static func json(_ r: ReportRecord) -> String { String(decoding: jsonBytes(r), as: UTF8.self) }

    /// One record as a JSON object, written straight into bytes (30,000 of them make a tenant's report).
    package static func jsonBytes(_ r: ReportRecord, into out: inout [UInt8]) {
        let c = r.credential
        var first = true
        func key(_ k: StaticString) {
            out.append(first ? 0x7b : 0x2c)
            first = false
            out.append(0x22)
            out.append(contentsOf: UnsafeBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount))
            out.append(contentsOf: [0x22, 0x3a])
        }
        func value(_ s: String?) { if let s { appendString(s, to: &out) } else { out.append(contentsOf: Array("null".utf8)) } }
        func date(_ d: Date?) { value(d.map(GraphTimestamps.format)) }
        key("object_type"); value(r.objectType.rawValue)
        key("object_id"); value(r.objectID)
        key("app_id"); value(r.appID)
        key("display_name"); value(r.displayName)
        key("credential"); value(c.kind.rawValue)
        key("key_id"); value(c.keyID)
        key("credential_name"); value(c.displayName)
        key("start"); date(c.start)
        key("end"); date(c.end)
        if c.kind == .certificate { key("thumbprint"); value(c.thumbprint) }
        if c.kind == .federated { key("issuer"); value(c.issuer); key("subject"); value(c.subject) }
        key("findings")
        out.append(0x5b)
        for (i, f) in r.findings.enumerated() {
            if i > 0 { out.append(0x2c) }
            appendString(f.rawValue, to: &out)
        }
        out.append(0x5d)
        key("severity"); value(r.findings.isEmpty ? "none" : r.severity.label)
        key("vault_rotation_name"); out.append(contentsOf: Array((r.vaultRotationName ? "true" : "false").utf8))
        key("managed_by"); value(r.managedBy)
        key("rotation_due"); date(r.rotationDue)
        out.append(0x7d)
    }

    package static func jsonBytes(_ r: ReportRecord) -> [UInt8] {
        var out: [UInt8] = []
        jsonBytes(r, into: &out)
        return out
    }

    package static func summaryJSON(_ s: ReportSummary) -> String {
        let findings = CredentialFinding.allCases.map { string($0.rawValue) + ":" + String(s.findings[$0] ?? 0) }.joined(separator: ",")
        return "{\"applications\":\(s.objects[.application] ?? 0),\"service_principals\":\(s.objects[.servicePrincipal] ?? 0),"
            + "\"credentials\":\(s.credentials.values.reduce(0, +)),\"findings\":{\(findings)},\"severity\":\(string(s.severity == .info ? "none" : s.severity.label))}"
    }

    // MARK: OpenMetrics label values: the one escaping rule, ServeMetrics.labelValue.

    package static func labelValue(_ s: String) -> String { ServeMetrics.labelValue(s) }

    package static func labels(_ pairs: [(String, String)]) -> String {
        pairs.map { "\($0.0)=\"\(labelValue($0.1))\"" }.joined(separator: ",")
    }
}

/// An unlinked temporary file (tmpfile(3)) that text is appended to, then copied out in one go.
package final class Spool {
    private let file: UnsafeMutablePointer<FILE>

    package init() throws {
        guard let f = tmpfile() else {
            throw VaultError("io.spool", "cannot create a temporary file for the metrics: \(String(cString: strerror(errno)))")
        }
        file = f
    }

    package func write(_ s: String) {
        var s = s
        s.withUTF8 { b in _ = fwrite(b.baseAddress, 1, b.count, file) }
    }

    package func copy(to out: OutputWriter) {
        rewind(file)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if n <= 0 { break }
            out.write(buffer[0..<n])
            out.flush()
        }
    }

    deinit { fclose(file) }
}
