import VaultJSON

/// One access-token entry of an MSAL cache, read without `JSONDecoder` on the warm path (`MSALCache.quickLookup`).
///
/// A warm `vault token` spent about a twentieth of its time decoding this one small object with `JSONDecoder` (its
/// scanner, its `Codable` machinery and, at first use, a scan of every protocol conformance in the binary for
/// `_DictionaryCodingKey: CodingKey`). MSAL and vault write an entry as one flat object of strings (and
/// `home_account_id: null`), so this reads exactly that, through vault's one JSON scanner (`JSONScan`: the grammar,
/// unique names): an object whose values are strings of printable ASCII without escapes, `null`, or whole numbers
/// without sign, fraction, exponent or leading zero (at most 15 digits). Anything else (escapes, other bytes, nested
/// values, booleans) gives nil, and the caller asks `JSONDecoder`, so an answer here is always the one `JSONDecoder`
/// gives (a test and the token-cache fuzz harness check).
enum MSALEntryReader {
    static func read(_ b: UnsafeBufferPointer<UInt8>) -> JSONValue? {
        guard let members = try? JSONScan.members(b, in: 0..<b.count) else { return nil }
        var object: [String: JSONValue] = [:]
        object.reserveCapacity(members.count)
        for (key, r) in members {
            guard let value = plain(b, r) else { return nil }
            object[key] = value
        }
        return .object(object)
    }

    /// The value at `r` when it is one of the plain forms above; nil otherwise.
    static func plain(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> JSONValue? {
        switch b[r.lowerBound] {
        case 0x22:
            let inner = (r.lowerBound + 1)..<(r.upperBound - 1)
            guard b[inner].allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != 0x5c }) else { return nil }
            return .string(String(decoding: UnsafeBufferPointer(rebasing: b[inner]), as: UTF8.self))
        case 0x6e:
            return .null  // the scanner accepted it: `null`
        case 0x30...0x39:
            guard r.count <= 15, r.count == 1 || b[r.lowerBound] != 0x30, b[r].allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
            var n: Int64 = 0
            for c in b[r] { n = n * 10 + Int64(c - 0x30) }
            return .number(Double(n))
        default:
            return nil
        }
    }
}
