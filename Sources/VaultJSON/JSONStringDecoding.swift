import VaultCrypto

/// Decoding a JSON string whose escapes were already checked (quotes included in `range`), byte by byte — into an
/// array, or straight into secret memory so a secret never becomes a Swift `String`.
public enum JSONStringDecoding {
    /// The decoded UTF-8 bytes of the JSON string at `range` (quotes included), written by `emit`; false for a bad
    /// escape, an unpaired surrogate (unless `replacingBadSurrogates`: then U+FFFD, for text shown to people) or a
    /// range that is not a string. Every index is checked: the input may be hostile.
    public static func decode(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, replacingBadSurrogates: Bool = false,
                              _ emit: (UInt8) -> Void) -> Bool {
        guard range.count >= 2, range.upperBound <= b.count, b[range.lowerBound] == 0x22, b[range.upperBound - 1] == 0x22 else { return false }
        var i = range.lowerBound + 1
        let end = range.upperBound - 1
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= end else { return nil }
            var v: UInt32 = 0
            for c in b[at..<(at + 4)] {
                switch c {
                case 0x30...0x39: v = v << 4 | UInt32(c - 0x30)
                case 0x41...0x46: v = v << 4 | UInt32(c - 0x41 + 10)
                case 0x61...0x66: v = v << 4 | UInt32(c - 0x61 + 10)
                default: return nil
                }
            }
            return v
        }
        while i < end {
            let c = b[i]
            guard c == 0x5c else { emit(c); i += 1; continue }
            guard i + 1 < end else { return false }
            let e = b[i + 1]
            i += 2
            switch e {
            case 0x22, 0x5c, 0x2f: emit(e)
            case 0x62: emit(0x08)
            case 0x66: emit(0x0c)
            case 0x6e: emit(0x0a)
            case 0x72: emit(0x0d)
            case 0x74: emit(0x09)
            case 0x75:
                guard var scalar = hex4(i) else { return false }
                i += 4
                if (0xD800...0xDBFF).contains(scalar) {
                    if i + 6 <= end, b[i] == 0x5c, b[i + 1] == 0x75, let low = hex4(i + 2), (0xDC00...0xDFFF).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                    } else if replacingBadSurrogates {
                        scalar = 0xFFFD
                    } else {
                        return false
                    }
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    guard replacingBadSurrogates else { return false }
                    scalar = 0xFFFD
                }
                guard let u = Unicode.Scalar(scalar) else { return false }
                for unit in UTF8.encode(u)! { emit(unit) }
            default: return false
            }
        }
        return true
    }

    public static func bytes(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, replacingBadSurrogates: Bool = false) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(range.count)
        return decode(b, range, replacingBadSurrogates: replacingBadSurrogates) { out.append($0) } ? out : nil
    }

    /// Decodes a string straight into secret memory (at most as long as its encoded form); nil when it holds a
    /// control character (no client secret does; a stray newline would be sent as part of it).
    public static func secret(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> SecretBytes? {
        let buffer = SecretBytes(count: range.count)
        var n = 0
        var control = false
        let ok = buffer.withUnsafeMutableBytes { out in
            decode(b, range) { c in
                if c < 0x20 || c == 0x7f { control = true }
                out[n] = c
                n += 1
            }
        }
        return ok && !control ? buffer.slice(0..<n) : nil
    }
}
