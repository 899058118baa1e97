/// vault's one rule for writing JSON strings: `"` and `\` escaped, and every control character (U+0000–U+001F and
/// DEL) as `\u00XX`; everything else, UTF-8 included, as it is. Used for every JSON vault writes itself: request
/// bodies, audit lines, proofs, OpenBao records.
public enum JSONWriter {
    /// Appends the escaped form of one byte of a UTF-8 string.
    @inline(__always)
    public static func escape(_ b: UInt8, into out: inout [UInt8]) {
        switch b {
        case 0x22: out.append(contentsOf: [0x5c, 0x22])
        case 0x5c: out.append(contentsOf: [0x5c, 0x5c])
        case 0..<0x20, 0x7f:
            out.append(contentsOf: [0x5c, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]])
        default: out.append(b)
        }
    }

    static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// `s` as a JSON string literal, quotes included.
    public static func quoted(_ s: String) -> [UInt8] {
        var out: [UInt8] = [0x22]
        out.reserveCapacity(s.utf8.count + 2)
        for b in s.utf8 { escape(b, into: &out) }
        out.append(0x22)
        return out
    }

    /// `s` as a JSON string literal, quotes included, as a String.
    public static func quotedString(_ s: String) -> String { String(decoding: quoted(s), as: UTF8.self) }

    /// The escaped inside of a JSON string literal, without quotes.
    public static func escaped(_ s: String) -> String {
        var out: [UInt8] = []
        for b in s.utf8 { escape(b, into: &out) }
        return String(decoding: out, as: UTF8.self)
    }
}
