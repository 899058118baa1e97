import FuzzSupport
import VaultCrypto
import VaultJSON

/// Fuzzes vault's one JSON scanner, string decoder, writer and redaction walker with any bytes. Checked on every
/// input: the scanner never traps; what it accepts is consistent (`validate` and `members` agree on objects; every
/// member's range is inside the document and re-validates as a value; arrays split into elements that re-validate);
/// a decoded string written back with `JSONWriter` decodes to the same bytes; the redaction walker produces valid
/// JSON whenever the input was, with every secret member's value replaced.
func harness(_ bytes: [UInt8]) {
    let valid = (try? JSONScan.validate(bytes)) != nil
    let members = try? JSONScan.members(bytes)
    if members != nil { precondition(valid, "members accepted a document validate refused") }
    for (name, range) in members ?? [:] {
        precondition(range.lowerBound >= 0 && range.upperBound <= bytes.count && !range.isEmpty, "a member range outside the document")
        precondition((try? JSONScan.validate(bytes, in: range)) != nil, "member \(name) does not re-validate")
        switch bytes[range.lowerBound] {
        case 0x22:
            // Strict decoding, written back with the one escaping rule, decodes to the same bytes.
            if let decoded = bytes.withUnsafeBufferPointer({ JSONStringDecoding.bytes($0, range) }) {
                let text = String(decoding: decoded, as: UTF8.self)
                if Array(text.utf8) == decoded {
                    let written = JSONWriter.quoted(text)
                    precondition((try? JSONScan.validate(written)) != nil, "JSONWriter wrote invalid JSON")
                    precondition(written.withUnsafeBufferPointer({ JSONStringDecoding.bytes($0, 0..<written.count) }) == decoded,
                                 "a string did not survive writing and reading")
                }
                _ = bytes.withUnsafeBufferPointer { JSONStringDecoding.secret($0, range) }
            }
            _ = JSONScan.string(bytes, range)
        case 0x5b:
            var count = 0
            do {
                try JSONScan.elements(bytes, in: range) { r in
                    count += 1
                    precondition((try? JSONScan.validate(bytes, in: r)) != nil, "an element does not re-validate")
                }
            } catch {
                preconditionFailure("a validated array did not split: \(error)")
            }
        case 0x7b:
            precondition((try? JSONScan.members(bytes, in: range)) != nil, "a validated nested object did not scan")
        default:
            break
        }
    }
    if valid {
        let redacted = JSONRedactor.copy(bytes, marker: "[REDACTED]", redacting: { $0.lowercased().contains("secret") })
        guard let redacted else { preconditionFailure("the redaction walker refused a valid document") }
        precondition((try? JSONScan.validate(redacted)) != nil, "the redaction walker wrote invalid JSON")
        if let m = try? JSONScan.members(redacted) {
            for (name, r) in m where name.lowercased().contains("secret") {
                precondition(Array(redacted[r]) == Array("\"[REDACTED]\"".utf8), "a secret member survived redaction")
            }
        }
    }
    if JSONScan.hasLooseWhitespace(bytes[...]), valid {
        precondition((try? JSONScan.validate(JSONScan.compact(bytes[...]))) != nil, "compaction broke a valid document")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    harness(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
@main struct Replay {
    static func main() {
        FuzzReplay.main(harness) {
            [#"{"a":1,"b":[true,false,null],"c":{"d":"e\u00e9\n"},"client_secret":"s3cr\"t"}"#,
             #"{"value":[{"id":"1","displayName":"\uD83D\uDE00"}],"@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$skiptoken=x"}"#,
             #"{"a":1,"a":2}"#, #"{"a":-0.5e+10,"b":01}"#, "[[[[[[[[[[]]]]]]]]]]", #"{"k":"\uD800"}"#, "\u{FEFF}{}", " {} ",
             #"{"secretText":{"nested":["x",1]},"x":"y"}"#, "{\"tab\":\"a\tb\"}", "[1,2,]", "{\"a\" 1}", "",
            ].enumerated().map { ("seed-\($0.offset)", Array($0.element.utf8)) }
        }
    }
}
#endif
