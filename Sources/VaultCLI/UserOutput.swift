import ArgumentParser
import Graph
import VaultJSON

/// Output formats of `vault run users`.
package enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case json, ndjson, csv, table
}

/// Writes Graph items as they arrive, in one of the formats.
package final class ItemFormatter {
    package let format: OutputFormat
    package let columns: [String]
    package let pretty: Bool
    package let out = OutputWriter()
    private var count = 0
    private var widths: [Int]?
    package static let maxWidth = 40

    package init(format: OutputFormat, columns: [String], pretty: Bool) {
        self.format = format
        self.columns = columns
        self.pretty = pretty
    }

    package func begin() {
        switch format {
        case .json: out.write("[")
        case .csv: out.write(columns.map(Self.csvField).joined(separator: ",") + "\r\n")
        default: break
        }
    }

    /// Writes `take` items of a page, then flushes.
    package func page(_ page: GraphPage, take: Int) {
        if format == .table && widths == nil { setWidths(page, take: take) }
        for i in 0..<take {
            let item = page.item(i)
            switch format {
            case .ndjson:
                if JSONScan.hasLooseWhitespace(item) { out.write(JSONScan.compact(item)) } else { out.write(item) }
                out.write([0x0a])
            case .json:
                out.write(count == 0 ? "\n" : ",\n")
                if pretty { out.write([0x20, 0x20]); out.write(JSONPretty.format(item, indent: 1)) } else { out.write(JSONScan.compact(item)) }
            case .csv:
                let values = Self.values(item, columns: columns)
                out.write(values.map(Self.csvField).joined(separator: ",") + "\r\n")
            case .table:
                out.write(row(Self.values(item, columns: columns).map(TerminalText.escaped)) + "\n")
            }
            count += 1
        }
        out.flush()
    }

    package func end() {
        switch format {
        case .json: out.write(count == 0 ? "]\n" : "\n]\n")
        case .table where widths == nil: out.write(row(columns) + "\n")
        default: break
        }
        out.flush()
    }

    private func setWidths(_ page: GraphPage, take: Int) {
        var w = columns.map(\.count)
        for i in 0..<take {
            for (j, v) in Self.values(page.item(i), columns: columns).enumerated() { w[j] = max(w[j], min(TerminalText.escaped(v).count, Self.maxWidth)) }
        }
        widths = w
        out.write(row(columns) + "\n")
    }

    private func row(_ cells: [String]) -> String {
        let w = (widths ?? cells.map(\.count)).map { max($0, 1) }
        return cells.enumerated().map { j, c -> String in
            let cell = c.count > w[j] ? String(c.prefix(w[j] - 1)) + "…" : c
            return j == cells.count - 1 ? cell : cell + String(repeating: " ", count: w[j] - cell.count)
        }.joined(separator: "  ")
    }

    /// The columns' values of one item as text: strings decoded, null empty, arrays joined with "; ".
    package static func values(_ item: ArraySlice<UInt8>, columns: [String]) -> [String] {
        let bytes = Array(item)
        guard let members = try? JSONScan.members(bytes) else { return columns.map { _ in "" } }
        return columns.map { name in
            guard let r = members[name] else { return "" }
            return text(bytes, r)
        }
    }

    /// Arrays nested deeper than this are shown as their JSON, not walked (a hostile page must not exhaust the stack).
    package static let maxDepth = 8

    package static func text(_ bytes: [UInt8], _ r: Range<Int>, depth: Int = 0) -> String {
        guard !r.isEmpty else { return "" }
        switch bytes[r.lowerBound] {
        case 0x22: return JSONScan.string(bytes, r) ?? ""
        case 0x6e: return ""
        case 0x5b where depth < maxDepth:
            var parts: [String] = []
            try? JSONScan.elements(bytes, in: r) { parts.append(text(bytes, $0, depth: depth + 1)) }
            return parts.joined(separator: "; ")
        default: return String(decoding: bytes[r], as: UTF8.self)
        }
    }

    /// RFC 4180 quoting, and OWASP's advice against spreadsheet formula injection: a cell that starts with `=`, `+`,
    /// `-`, `@`, tab or CR gets a leading `'` (so `=HYPERLINK(…)` from the directory stays text).
    package static func csvField(_ raw: String) -> String {
        var s = raw
        if let first = s.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { s = "'" + s }
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }
}

/// Text for a terminal: control characters (C0, DEL, C1 — ESC starts every escape sequence) and bidirectional
/// overrides and isolates are shown as `\u{…}` escapes, never sent raw, so directory data cannot move the cursor,
/// retitle the window or reorder what the reader sees.
package enum TerminalText {
    package static func isUnsafe(_ v: UInt32) -> Bool {
        v < 0x20 || (0x7f...0x9f).contains(v) || (0x202a...0x202e).contains(v) || (0x2066...0x2069).contains(v)
            || v == 0x200e || v == 0x200f || v == 0x061c
    }

    package static func escaped(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { isUnsafe($0.value) }) else { return s }
        var out = ""
        for u in s.unicodeScalars {
            if isUnsafe(u.value) { out += "\\u{" + String(u.value, radix: 16) + "}" } else { out.unicodeScalars.append(u) }
        }
        return out
    }
}
