/// vault's one JSON scanner (RFC 8259), for every document a server, a file or a peer hands it: Graph pages and
/// errors, MSAL configuration files, OpenBao answers. It validates the whole document — grammar, string escapes, no
/// control character inside a string, numbers as the RFC writes them, at most `maxDepth` levels of nesting, at most
/// `maxBytes` bytes, and every member name unique in its object (a duplicate is how two parsers are made to disagree)
/// — and hands back byte ranges, so the caller decides which values become Strings and which go straight into secret
/// memory (`JSONStringDecoding.secret`). No document tree is built: a page of users is streamed element by element.
public enum JSONScan {
    public struct Malformed: Error, CustomStringConvertible, Equatable {
        public var why: String
        /// Byte offset where the scan stopped.
        public var offset: Int
        public var description: String { "\(why) at byte \(offset)" }
    }

    /// Deepest nesting of arrays and objects accepted in a document.
    public static let maxDepth = 64
    /// Largest document accepted (the HTTP layer caps bodies lower; files are capped by their readers).
    public static let maxBytes = 64 << 20

    /// Validates `range` of `bytes` as one complete JSON value (whitespace around it allowed).
    public static func validate(_ bytes: [UInt8], in range: Range<Int>? = nil) throws {
        try bytes.withUnsafeBufferPointer { b in
            var s = try Scanner(b, range ?? 0..<b.count)
            try s.document(topLevel: nil)
        }
    }

    /// The members of the object at `range` (the whole of `bytes` by default), validated: name → byte range of the
    /// value. A byte-order mark before a whole document is skipped, as editors write it.
    public static func members(_ bytes: [UInt8], in range: Range<Int>? = nil) throws -> [String: Range<Int>] {
        try bytes.withUnsafeBufferPointer { b in try members(b, in: range ?? 0..<b.count) }
    }

    /// Validates the object at `range` of `b` and calls `body` with each member's name (decoded) and value range, in
    /// order, without building a dictionary (for hot readers such as the metadata of thousands of apps).
    public static func forEachMember(_ b: UnsafeBufferPointer<UInt8>, in range: Range<Int>,
                                     _ body: (_ name: String, _ value: Range<Int>) -> Void) throws {
        var s = try Scanner(b, range)
        try withoutActuallyEscaping(body) { try s.document(topLevel: $0) }
    }

    public static func members(_ b: UnsafeBufferPointer<UInt8>, in range: Range<Int>) throws -> [String: Range<Int>] {
        var s = try Scanner(b, range)
        var out: [String: Range<Int>] = [:]
        try s.document { key, value in out[key] = value }
        return out
    }

    /// Calls `body` with the byte range of each element of the array at `range` (validated first).
    public static func elements(_ bytes: [UInt8], in range: Range<Int>, _ body: (Range<Int>) throws -> Void) throws {
        for r in try bytes.withUnsafeBufferPointer({ try elements($0, in: range) }) { try body(r) }
    }

    /// The byte ranges of the elements of the array at `range` of `b` (validated first).
    public static func elements(_ b: UnsafeBufferPointer<UInt8>, in range: Range<Int>) throws -> [Range<Int>] {
        var found: [Range<Int>] = []
        var s = try Scanner(b, range)
        try s.array(collect: { found.append($0) })
        return found
    }

    /// The decoded string at `range` (quotes included), for text shown to people: an unpaired surrogate becomes
    /// U+FFFD. Nil for anything that is not a string. (Secrets and names that must be exact use `JSONStringDecoding`.)
    public static func string(_ bytes: [UInt8], _ range: Range<Int>) -> String? {
        bytes.withUnsafeBufferPointer { string($0, range) }
    }

    public static func string(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String? {
        guard range.count >= 2, range.lowerBound >= 0, range.upperBound <= b.count, b[range.lowerBound] == 0x22, b[range.upperBound - 1] == 0x22 else { return nil }
        let inner = UnsafeBufferPointer(rebasing: b[(range.lowerBound + 1)..<(range.upperBound - 1)])
        // No escape (nearly every value): one copy, straight into the String. A page may hold a huge value.
        if !inner.contains(0x5c) { return String(decoding: inner, as: UTF8.self) }
        return JSONStringDecoding.bytes(b, range, replacingBadSurrogates: true).map { String(decoding: $0, as: UTF8.self) }
    }

    /// True when the bytes hold whitespace outside strings (then a line-per-item output must compact them).
    public static func hasLooseWhitespace(_ bytes: ArraySlice<UInt8>) -> Bool {
        var inString = false
        var escaped = false
        for c in bytes {
            if inString {
                if escaped { escaped = false } else if c == 0x5c { escaped = true } else if c == 0x22 { inString = false }
            } else if c == 0x22 { inString = true } else if isSpace(c) { return true }
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
            else if !isSpace(c) { out.append(c) }
        }
        return out
    }

    @inline(__always) static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09 }

    /// The one recursive-descent validator behind every entry point. Every index is checked: the input is hostile.
    struct Scanner {
        let b: UnsafeBufferPointer<UInt8>
        var i: Int
        let end: Int

        init(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) throws {
            guard range.lowerBound >= 0, range.upperBound <= b.count else { throw Malformed(why: "a range outside the document", offset: 0) }
            guard range.count <= JSONScan.maxBytes else { throw Malformed(why: "a document over \(JSONScan.maxBytes) bytes", offset: range.lowerBound) }
            self.b = b
            i = range.lowerBound
            end = range.upperBound
        }

        func fail(_ why: String) -> Malformed { Malformed(why: why, offset: i) }

        mutating func space() { while i < end, JSONScan.isSpace(b[i]) { i += 1 } }

        /// One value and nothing after it. With `topLevel`, the value must be an object and its members go there.
        mutating func document(topLevel: ((String, Range<Int>) -> Void)?) throws {
            if i == 0, end >= 3, b[0] == 0xef, b[1] == 0xbb, b[2] == 0xbf { i = 3 }
            space()
            if let topLevel {
                guard i < end, b[i] == 0x7b else { throw fail("expected an object") }
                try object(depth: 1, members: topLevel)
            } else {
                try value(depth: 0)
            }
            space()
            guard i == end else { throw fail("trailing bytes after the value") }
        }

        mutating func value(depth: Int) throws {
            guard depth < JSONScan.maxDepth else { throw fail("nested deeper than \(JSONScan.maxDepth) levels") }
            space()
            guard i < end else { throw fail("expected a value") }
            switch b[i] {
            case 0x22: _ = try string()
            case 0x7b: try object(depth: depth + 1, members: nil)
            case 0x5b: try array(depth: depth + 1, collect: nil)
            case 0x74: try word("true")
            case 0x66: try word("false")
            case 0x6e: try word("null")
            default: try number()
            }
        }

        mutating func word(_ w: StaticString) throws {
            let n = w.utf8CodeUnitCount
            guard end - i >= n else { throw fail("unexpected end") }
            let p = w.utf8Start
            for k in 0..<n where b[i + k] != p[k] { throw fail("unexpected character") }
            i += n
        }

        /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
        mutating func number() throws {
            if i < end, b[i] == 0x2d { i += 1 }
            guard i < end, (0x30...0x39).contains(b[i]) else { throw fail("unexpected character") }
            if b[i] == 0x30 { i += 1 } else { while i < end, (0x30...0x39).contains(b[i]) { i += 1 } }
            if i < end, b[i] == 0x2e {
                i += 1
                guard i < end, (0x30...0x39).contains(b[i]) else { throw fail("a number without digits after '.'") }
                while i < end, (0x30...0x39).contains(b[i]) { i += 1 }
            }
            if i < end, b[i] == 0x65 || b[i] == 0x45 {
                i += 1
                if i < end, b[i] == 0x2b || b[i] == 0x2d { i += 1 }
                guard i < end, (0x30...0x39).contains(b[i]) else { throw fail("a number without exponent digits") }
                while i < end, (0x30...0x39).contains(b[i]) { i += 1 }
            }
        }

        /// Moves past a string, checking its escapes; returns its range, quotes included.
        mutating func string() throws -> Range<Int> {
            let start = i
            i += 1
            while i < end {
                let c = b[i]
                if c == 0x22 { i += 1; return start..<i }
                if c < 0x20 { throw fail("a control character inside a string") }
                if c == 0x5c {
                    guard i + 1 < end else { break }
                    let e = b[i + 1]
                    if e == 0x75 {
                        guard i + 5 < end, b[(i + 2)...(i + 5)].allSatisfy(Self.isHex) else { throw fail("a bad \\u escape") }
                        i += 6
                        continue
                    }
                    guard [0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74].contains(e) else { throw fail("a bad escape") }
                    i += 2
                    continue
                }
                i += 1
            }
            throw fail("an unterminated string")
        }

        static func isHex(_ c: UInt8) -> Bool { (0x30...0x39).contains(c) || (0x41...0x46).contains(c) || (0x61...0x66).contains(c) }

        mutating func object(depth: Int, members: ((String, Range<Int>) -> Void)?) throws {
            guard depth <= JSONScan.maxDepth else { throw fail("nested deeper than \(JSONScan.maxDepth) levels") }
            i += 1
            // Member names as (hash of the decoded name, range), checked for a repeat when the object ends: sorted,
            // not a Set (the first Set or Dictionary of a process costs a scan of every conformance record of the
            // binary, on the warm `vault token` path), and no quadratic compare for a hostile object of many members.
            var names: [(hash: UInt64, range: Range<Int>)] = []
            space()
            if i < end, b[i] == 0x7d { i += 1; return }
            while true {
                space()
                guard i < end, b[i] == 0x22 else { throw fail("expected a member name") }
                let keyRange = try string()
                // A name without escapes (nearly every one) is its own bytes: hashed and named in place, no copy.
                let raw = UnsafeBufferPointer(rebasing: b[(keyRange.lowerBound + 1)..<(keyRange.upperBound - 1)])
                var h: UInt64 = 0xcbf2_9ce4_8422_2325
                let key: String?
                if !raw.contains(0x5c) {
                    for c in raw { h = (h ^ UInt64(c)) &* 0x100_0000_01b3 }
                    key = members == nil ? nil : String(decoding: raw, as: UTF8.self)
                } else {
                    guard let decoded = JSONStringDecoding.bytes(b, keyRange) else { throw fail("a bad member name") }
                    for c in decoded { h = (h ^ UInt64(c)) &* 0x100_0000_01b3 }
                    key = members == nil ? nil : String(decoding: decoded, as: UTF8.self)
                }
                names.append((h, keyRange))
                space()
                guard i < end, b[i] == 0x3a else { throw fail("expected ':'") }
                i += 1
                space()
                let start = i
                try value(depth: depth)
                if let members, let key { members(key, start..<i) }
                space()
                guard i < end else { throw fail("an unterminated object") }
                if b[i] == 0x2c { i += 1; continue }
                guard b[i] == 0x7d else { throw fail("expected ',' or '}'") }
                try unique(names)
                i += 1
                return
            }
        }

        /// Throws when two member names decode to the same bytes.
        func unique(_ names: [(hash: UInt64, range: Range<Int>)]) throws {
            guard names.count > 1 else { return }
            let sorted = names.sorted { $0.hash < $1.hash }
            var start = 0
            while start < sorted.count {
                var stop = start + 1
                while stop < sorted.count, sorted[stop].hash == sorted[start].hash { stop += 1 }
                if stop - start > 1 {
                    let decoded = sorted[start..<stop].map { JSONStringDecoding.bytes(b, $0.range) ?? [] }
                    for x in decoded.indices { for y in decoded.indices where y > x && decoded[x] == decoded[y] {
                        throw Malformed(why: "the member \"\(String(decoding: decoded[x], as: UTF8.self).prefix(64))\" appears twice", offset: sorted[start].range.lowerBound)
                    } }
                }
                start = stop
            }
        }

        /// The array at `i` (whole document when called from `elements`), each element's range to `collect`.
        mutating func array(depth: Int = 1, collect: ((Range<Int>) -> Void)?) throws {
            let whole = collect != nil && depth == 1
            if whole { space() }
            guard i < end, b[i] == 0x5b else { throw fail("expected an array") }
            guard depth <= JSONScan.maxDepth else { throw fail("nested deeper than \(JSONScan.maxDepth) levels") }
            i += 1
            space()
            if i < end, b[i] == 0x5d {
                i += 1
            } else {
                while true {
                    space()
                    let start = i
                    try value(depth: depth)
                    collect?(start..<i)
                    space()
                    guard i < end else { throw fail("an unterminated array") }
                    if b[i] == 0x2c { i += 1; continue }
                    guard b[i] == 0x5d else { throw fail("expected ',' or ']'") }
                    i += 1
                    break
                }
            }
            if whole {
                space()
                guard i == end else { throw fail("trailing bytes after the array") }
            }
        }
    }
}
