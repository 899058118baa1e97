/// One access-token entry of an MSAL cache, read without `JSONDecoder` on the warm path (`MSALCache.quickLookup`).
///
/// A warm `vault token` spent about a twentieth of its time decoding this one small object with `JSONDecoder` (its
/// scanner, its `Codable` machinery and, at first use, a scan of every protocol conformance in the binary for
/// `_DictionaryCodingKey: CodingKey`). MSAL and vault write an entry as one flat object of strings (and
/// `home_account_id: null`), so this reads exactly that: an object whose values are strings of printable ASCII without
/// escapes, `null`, or whole numbers without sign, fraction, exponent or leading zero (at most 15 digits). Anything else
/// (escapes, other bytes, nested values, booleans, a repeated key, trailing bytes) gives nil, and the caller asks
/// `JSONDecoder`, so an answer here is always the one `JSONDecoder` gives (a test and the token-cache fuzz harness check).
enum MSALEntryReader {
    static func read(_ b: UnsafeBufferPointer<UInt8>) -> JSONValue? {
        var i = 0
        func skip() { while i < b.count, b[i] == 0x20 || b[i] == 0x0a || b[i] == 0x0d || b[i] == 0x09 { i += 1 } }
        func string() -> String? {
            guard i < b.count, b[i] == 0x22 else { return nil }
            i += 1
            let start = i
            while i < b.count, b[i] != 0x22 {
                guard b[i] >= 0x20, b[i] < 0x7f, b[i] != 0x5c else { return nil }
                i += 1
            }
            guard i < b.count else { return nil }
            defer { i += 1 }
            return String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
        }
        func value() -> JSONValue? {
            guard i < b.count else { return nil }
            switch b[i] {
            case 0x22:
                return string().map { .string($0) }
            case 0x6e:
                guard i + 4 <= b.count, b[i + 1] == 0x75, b[i + 2] == 0x6c, b[i + 3] == 0x6c else { return nil }
                i += 4
                return .null
            case 0x30...0x39:
                let start = i
                var n: Int64 = 0
                while i < b.count, (0x30...0x39).contains(b[i]) {
                    n = n * 10 + Int64(b[i] - 0x30)
                    i += 1
                    guard i - start <= 15 else { return nil }
                }
                guard i - start == 1 || b[start] != 0x30 else { return nil }
                // A fraction or an exponent is JSONDecoder's to read.
                if i < b.count, b[i] == 0x2e || b[i] == 0x65 || b[i] == 0x45 { return nil }
                return .number(Double(n))
            default:
                return nil
            }
        }
        skip()
        guard i < b.count, b[i] == 0x7b else { return nil }
        i += 1
        var object: [String: JSONValue] = [:]
        skip()
        if i < b.count, b[i] == 0x7d {
            i += 1
        } else {
            while true {
                skip()
                guard let key = string() else { return nil }
                skip()
                guard i < b.count, b[i] == 0x3a else { return nil }
                i += 1
                skip()
                guard let v = value(), object.updateValue(v, forKey: key) == nil else { return nil }
                skip()
                guard i < b.count else { return nil }
                if b[i] == 0x2c { i += 1; continue }
                guard b[i] == 0x7d else { return nil }
                i += 1
                break
            }
        }
        skip()
        return i == b.count ? .object(object) : nil
    }
}
