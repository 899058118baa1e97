import ArgumentParser
import EntraAuth
import FoundationEssentials
import VaultCrypto
import VaultStore
import VaultFormat
import VaultRecords

package enum Format {
    package static func date(_ d: Date) -> String { d.formatted(.iso8601) }

    package static func json<T: Encodable>(_ value: T) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try e.encode(value), as: UTF8.self)
    }

    package static func table(header: [String], rows: [[String]]) -> String {
        // Widths in characters; ASCII cells (nearly all) are measured by their bytes, without grapheme breaking.
        func width(_ s: String) -> Int { s.utf8.allSatisfy { $0 < 0x80 } ? s.utf8.count : s.count }
        let all = [header] + rows
        let measured = all.map { $0.map(width) }
        var widths = [Int](repeating: 0, count: header.count)
        for row in measured { for (i, w) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], w) } }
        var out = ""
        out.reserveCapacity(all.count * (widths.reduce(0, +) + 2 * widths.count + 1))
        for (r, cells) in all.enumerated() {
            if r > 0 { out += "\n" }
            for (i, c) in cells.enumerated() {
                if i > 0 { out += "  " }
                out += c
                if i < cells.count - 1 { out += String(repeating: " ", count: max(0, widths[i] - measured[r][i])) }
            }
        }
        return out
    }
}
