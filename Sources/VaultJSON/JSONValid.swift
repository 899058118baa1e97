/// Readers for the parts of a document that `JSONScan` has already validated as a whole: they split it into byte
/// ranges without checking the grammar again, so a page of 999 applications is validated once, not once per level
/// of nesting (the report reads 30,000 credentials this way). They stay bounds-checked at every step: handed bytes
/// that were never validated, they return meaningless ranges, never read outside the buffer and never trap.
public enum JSONValid {
    /// A member name as it stands in the document (quotes included), compared without building a String.
    public struct Name {
        let b: UnsafeBufferPointer<UInt8>
        let range: Range<Int>

        /// True when the name decodes to `s` (escaped names are decoded first; Graph writes none).
        public func `is`(_ s: StaticString) -> Bool {
            let inner = (range.lowerBound + 1)..<(range.upperBound - 1)
            let raw = UnsafeBufferPointer(rebasing: b[inner])
            let want = UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)
            if !raw.contains(0x5c) { return raw.elementsEqual(want) }
            guard let decoded = JSONStringDecoding.bytes(b, range) else { return false }
            return decoded.elementsEqual(want)
        }
    }

    /// The ranges of the elements of the (validated) array at `range`.
    public static func elements(_ b: UnsafeBufferPointer<UInt8>, in range: Range<Int>) -> [Range<Int>] {
        var out: [Range<Int>] = []
        let range = max(range.lowerBound, 0)..<max(min(range.upperBound, b.count), 0)
        var i = skipSpace(b, range.lowerBound, range.upperBound)
        guard i < range.upperBound, b[i] == 0x5b else { return out }
        i += 1
        while true {
            i = skipSpace(b, i, range.upperBound)
            guard i < range.upperBound, b[i] != 0x5d else { return out }
            let start = i
            i = skipValue(b, i, range.upperBound)
            guard i > start else { return out }
            out.append(start..<i)
            i = skipSpace(b, i, range.upperBound)
            guard i < range.upperBound, b[i] == 0x2c else { return out }
            i += 1
        }
    }

    /// Calls `body` with each member of the (validated) object at `range`: its name and its value's range.
    public static func forEachMember(_ b: UnsafeBufferPointer<UInt8>, in range: Range<Int>,
                                     _ body: (Name, Range<Int>) throws -> Void) rethrows {
        let range = max(range.lowerBound, 0)..<max(min(range.upperBound, b.count), 0)
        var i = skipSpace(b, range.lowerBound, range.upperBound)
        guard i < range.upperBound, b[i] == 0x7b else { return }
        i += 1
        while true {
            i = skipSpace(b, i, range.upperBound)
            guard i < range.upperBound, b[i] == 0x22 else { return }
            let nameStart = i
            i = skipString(b, i, range.upperBound)
            guard i - nameStart >= 2 else { return }
            let name = Name(b: b, range: nameStart..<i)
            i = skipSpace(b, i, range.upperBound)
            guard i < range.upperBound, b[i] == 0x3a else { return }
            i = skipSpace(b, i + 1, range.upperBound)
            let start = i
            i = skipValue(b, i, range.upperBound)
            guard i > start else { return }
            try body(name, start..<i)
            i = skipSpace(b, i, range.upperBound)
            guard i < range.upperBound, b[i] == 0x2c else { return }
            i += 1
        }
    }

    @inline(__always) static func skipSpace(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        var i = max(i, 0)
        while i < end, i < b.count, JSONScan.isSpace(b[i]) { i += 1 }
        return i
    }

    /// Past the string starting at `i` (a quote), or `end`.
    @inline(__always) static func skipString(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        let end = min(end, b.count)
        var i = i + 1
        while i < end {
            switch b[i] {
            case 0x22: return i + 1
            case 0x5c: i += 2
            default: i += 1
            }
        }
        return end
    }

    /// Past the value starting at `i`, or `end`: strings skipped whole, brackets counted.
    static func skipValue(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        let end = min(end, b.count)
        guard i >= 0, i < end else { return end }
        switch b[i] {
        case 0x22: return skipString(b, i, end)
        case 0x7b, 0x5b:
            var depth = 0
            var i = i
            while i < end {
                switch b[i] {
                case 0x22: i = skipString(b, i, end); continue
                case 0x7b, 0x5b: depth += 1
                case 0x7d, 0x5d:
                    depth -= 1
                    if depth == 0 { return i + 1 }
                default: break
                }
                i += 1
            }
            return end
        default:
            var i = i
            while i < end, b[i] != 0x2c, b[i] != 0x5d, b[i] != 0x7d, !JSONScan.isSpace(b[i]) { i += 1 }
            return i
        }
    }
}
