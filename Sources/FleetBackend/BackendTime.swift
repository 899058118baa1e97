import FoundationEssentials

/// Times read from a backend's records (Unix seconds as text). The engine is not trusted to hold sane numbers: a value
/// that is not plain decimal seconds within years 1970–9999 is refused (nil), so no later conversion can trap on it.
public enum BackendTime {
    /// 9999-12-31T23:59:59Z.
    public static let latest: Double = 253_402_300_799

    public static func date(_ text: String?) -> Date? {
        // Decimal digits and at most one point: no sign, exponent, hex float, nan or inf reaches Double's parser.
        guard let text, !text.isEmpty, text.utf8.count <= 32,
              text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2e }), text.utf8.filter({ $0 == 0x2e }).count <= 1,
              let seconds = Double(text), seconds.isFinite, seconds <= latest else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }
}

extension BackendTime {
    /// A KV v2 `created_time` (`2026-12-06T22:08:26.123456789Z`, UTC as OpenBao writes it); nil for anything else.
    public static func rfc3339(_ text: String?) -> Date? {
        guard let text, text.utf8.count >= 20, text.utf8.count <= 40, text.hasSuffix("Z") else { return nil }
        let b = Array(text.utf8)
        func number(_ r: Range<Int>) -> Int? {
            guard r.upperBound <= b.count, b[r].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return b[r].reduce(0) { $0 * 10 + Int($1 - 0x30) }
        }
        guard b[4] == 0x2d, b[7] == 0x2d, b[10] == 0x54, b[13] == 0x3a, b[16] == 0x3a,
              let y = number(0..<4), let mo = number(5..<7), let d = number(8..<10), let h = number(11..<13), let mi = number(14..<16),
              let s = number(17..<19), (1970...9999).contains(y), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61 else { return nil }
        var fraction = 0.0
        if b[19] == 0x2e {
            guard b.count > 21, b.count - 21 <= 18, let digits = number(20..<(b.count - 1)) else { return nil }
            var scale = 1.0
            for _ in 0..<(b.count - 21) { scale *= 10 }
            fraction = Double(digits) / scale
        } else if b.count != 20 {
            return nil
        }
        return Date(timeIntervalSince1970: Double(days(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s) + fraction)
    }

    /// An HTTP `Date` header (IMF-fixdate, `Sun, 06 Dec 2026 22:08:26 GMT`); nil for anything else.
    public static func httpDate(_ text: String?) -> Date? {
        guard let text, text.utf8.count == 29, text.hasSuffix(" GMT") else { return nil }
        let parts = text.dropLast(4).split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard parts.count == 5, let d = Int(parts[1]), let mo = months.firstIndex(of: String(parts[2])), let y = Int(parts[3]),
              (1970...9999).contains(y), (1...31).contains(d) else { return nil }
        let hms = parts[4].split(separator: ":").compactMap { Int($0) }
        guard hms.count == 3, hms[0] < 24, hms[1] < 60, hms[2] < 61 else { return nil }
        return Date(timeIntervalSince1970: Double(days(y, mo + 1, d) * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2]))
    }

    /// Days from 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    static func days(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
