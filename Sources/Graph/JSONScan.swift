/// A byte-level JSON scanner for Graph pages: finds the top-level members of an object and splits arrays into the
/// raw bytes of their elements without building a document tree, so users can be streamed as they arrive.
public enum JSONScan {
    public struct Malformed: Error {}
    /// Deepest nesting of arrays and objects accepted in a value.
    public static let maxDepth = 64

    static func skipSpace(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int) {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0a || b[i] == 0x0d || b[i] == 0x09 { i += 1 }
    }

    /// Moves `i` past one JSON value.
    static func skipValue(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int) throws {
        skipSpace(b, &i)
        guard i < b.count else { throw Malformed() }
        switch b[i] {
        case 0x22: try skipString(b, &i)
        case 0x7b, 0x5b:
            // Each closing bracket must match its opener, at most `maxDepth` deep (Graph nests a few levels).
            var open: [UInt8] = []
            while i < b.count {
                switch b[i] {
                case 0x22: try skipString(b, &i); continue
                case 0x7b, 0x5b:
                    open.append(b[i])
                    if open.count > maxDepth { throw Malformed() }
                case 0x7d, 0x5d:
                    guard let opener = open.popLast(), opener + 2 == b[i] else { throw Malformed() }
                    if open.isEmpty { i += 1; return }
                default: break
                }
                i += 1
            }
            throw Malformed()
        default:
            let start = i
            while i < b.count, !(b[i] == 0x2c || b[i] == 0x7d || b[i] == 0x5d || b[i] == 0x20 || b[i] == 0x0a || b[i] == 0x0d || b[i] == 0x09) { i += 1 }
            if i == start { throw Malformed() }
        }
    }

    static func skipString(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int) throws {
        i += 1
        while i < b.count {
            if b[i] == 0x5c { i += 2; continue }
            if b[i] == 0x22 { i += 1; return }
            i += 1
        }
        throw Malformed()
    }

    /// The top-level members of an object: key → byte range of the value.
    public static func members(_ bytes: [UInt8]) throws -> [String: Range<Int>] {
        try bytes.withUnsafeBufferPointer { b in
            var i = 0
            skipSpace(b, &i)
            guard i < b.count, b[i] == 0x7b else { throw Malformed() }
            i += 1
            var out: [String: Range<Int>] = [:]
            while true {
                skipSpace(b, &i)
                guard i < b.count else { throw Malformed() }
                if b[i] == 0x7d { return out }
                if b[i] == 0x2c { i += 1; continue }
                let keyStart = i
                guard b[i] == 0x22 else { throw Malformed() }
                try skipString(b, &i)
                let key = String(decoding: b[(keyStart + 1)..<(i - 1)], as: UTF8.self)
                skipSpace(b, &i)
                guard i < b.count, b[i] == 0x3a else { throw Malformed() }
                i += 1
                skipSpace(b, &i)
                let valueStart = i
                try skipValue(b, &i)
                out[key] = valueStart..<i
            }
        }
    }

    /// Calls `body` with the byte range of each element of the array at `range`.
    public static func elements(_ bytes: [UInt8], in range: Range<Int>, _ body: (Range<Int>) throws -> Void) throws {
        try bytes.withUnsafeBufferPointer { whole in
            let b = UnsafeBufferPointer(rebasing: whole[..<range.upperBound])
            var i = range.lowerBound
            skipSpace(b, &i)
            guard i < b.count, b[i] == 0x5b else { throw Malformed() }
            i += 1
            while true {
                skipSpace(b, &i)
                guard i < b.count else { throw Malformed() }
                if b[i] == 0x5d { return }
                if b[i] == 0x2c { i += 1; continue }
                let start = i
                try skipValue(b, &i)
                try body(start..<i)
            }
        }
    }

    /// Decodes a JSON string value (with escapes) at `range`.
    public static func string(_ bytes: [UInt8], _ range: Range<Int>) -> String? {
        guard range.count >= 2, bytes[range.lowerBound] == 0x22 else { return nil }
        let inner = bytes[(range.lowerBound + 1)..<(range.upperBound - 1)]
        if !inner.contains(0x5c) { return String(decoding: inner, as: UTF8.self) }
        var out: [UInt8] = []
        var i = inner.startIndex
        while i < inner.endIndex {
            let c = inner[i]
            if c != 0x5c { out.append(c); i += 1; continue }
            i += 1
            guard i < inner.endIndex else { break }
            switch inner[i] {
            case 0x6e: out.append(0x0a)
            case 0x74: out.append(0x09)
            case 0x72: out.append(0x0d)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0c)
            case 0x75:
                guard i + 4 < inner.endIndex, inner[(i + 1)...(i + 4)].allSatisfy(Self.isHex),
                      let code = UInt32(String(decoding: inner[(i + 1)...(i + 4)], as: UTF8.self), radix: 16) else { return nil }
                var scalarValue = code
                i += 4
                // A high surrogate counts only with a low one after it; anything else becomes U+FFFD.
                if (0xD800...0xDBFF).contains(code), i + 6 < inner.endIndex, inner[i + 1] == 0x5c, inner[i + 2] == 0x75,
                   let low = UInt32(String(decoding: inner[(i + 3)...(i + 6)], as: UTF8.self), radix: 16),
                   (0xDC00...0xDFFF).contains(low) {
                    scalarValue = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                out.append(contentsOf: Array(String(Unicode.Scalar(scalarValue).map(Character.init) ?? "\u{FFFD}").utf8))
            default: out.append(inner[i])
            }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func isHex(_ c: UInt8) -> Bool { (0x30...0x39).contains(c) || (0x41...0x46).contains(c) || (0x61...0x66).contains(c) }

    /// True when the bytes hold whitespace outside strings (then a line-per-item output must compact them).
    public static func hasLooseWhitespace(_ bytes: ArraySlice<UInt8>) -> Bool {
        var inString = false
        var escaped = false
        for c in bytes {
            if inString {
                if escaped { escaped = false } else if c == 0x5c { escaped = true } else if c == 0x22 { inString = false }
            } else if c == 0x22 { inString = true } else if c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09 { return true }
        }
        return false
    }

    /// Removes whitespace outside strings.
    public static func compact(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var inString = false
        var escaped = false
        for c in bytes {
            if inString {
                if escaped { escaped = false } else if c == 0x5c { escaped = true } else if c == 0x22 { inString = false }
                out.append(c)
            } else if c == 0x22 { inString = true; out.append(c) }
            else if !(c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09) { out.append(c) }
        }
        return out
    }
}
