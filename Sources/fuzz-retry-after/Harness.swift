import FuzzSupport
import VaultHTTP
import FoundationEssentials

/// Fuzzes the `Retry-After` parser (delay-seconds or an HTTP-date) with any header value.
func harness(_ bytes: [UInt8]) {
    let value = String(decoding: bytes, as: UTF8.self)
    if let s = RetryAfter.seconds(value, now: Date(timeIntervalSince1970: 1_800_000_000)) {
        precondition(s >= 0 && s.isFinite, "Retry-After gave \(s)")
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
            ["2", "0.5", "120", "-1", "1e308", "NaN", "Sun, 06 Nov 1994 08:49:37 GMT", "Wed, 01 Dec 2027 10:00:00 GMT",
             "Sun, 06 Nov 10000000000000 08:49:37 GMT", "Sun, 99 Foo 1994 99:99:99 GMT", ""].enumerated().map { ("seed-\($0.offset)", Array($0.element.utf8)) }
        }
    }
}
#endif
