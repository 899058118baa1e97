import FoundationEssentials

/// Graph's UTC timestamps without a formatter: `YYYY-MM-DDTHH:MM:SS[.f…]Z` read and written with integer arithmetic
/// (days from the civil date, H. Hinnant's algorithm). A tenant report reads two per credential, 60,000 for 30,000
/// credentials: `Date.ISO8601FormatStyle` made that a measurable share of the run. Anything else falls back to it.
public enum GraphTimestamps {
    public static func parse(_ s: String) -> Date? {
        var u = Array(s.utf8)
        if u.last == UInt8(ascii: "Z") { u.removeLast() } else { return GraphDates.parse(s) }
        guard u.count >= 19, u[4] == 0x2d, u[7] == 0x2d, u[10] == 0x54 || u[10] == 0x74, u[13] == 0x3a, u[16] == 0x3a else { return GraphDates.parse(s) }
        func n(_ a: Int, _ b: Int) -> Int? {
            var v = 0
            for i in a..<b { let d = Int(u[i]) - 48; guard (0...9).contains(d) else { return nil }; v = v * 10 + d }
            return v
        }
        guard let y = n(0, 4), let mo = n(5, 7), let d = n(8, 10), let h = n(11, 13), let mi = n(14, 16), let sec = n(17, 19),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, sec < 61 else { return nil }
        var fraction = 0.0
        if u.count > 19 {
            guard u[19] == 0x2e, u.count > 20 else { return nil }
            var scale = 0.1
            for i in 20..<u.count {
                let digit = Int(u[i]) - 48
                guard (0...9).contains(digit) else { return nil }
                fraction += Double(digit) * scale
                scale /= 10
            }
        }
        let days = daysFromCivil(y, mo, d)
        return Date(timeIntervalSince1970: Double(days * 86_400 + h * 3600 + mi * 60 + sec) + fraction)
    }

    /// `2026-01-01T10:00:00Z` (whole seconds, as `GraphDates.format`).
    public static func format(_ date: Date) -> String {
        let t = Int(date.timeIntervalSince1970.rounded(.down))
        let days = t >= 0 ? t / 86_400 : (t - 86_399) / 86_400
        let secs = t - days * 86_400
        let (y, m, d) = civilFromDays(days)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let year = y < 0 || y > 9999 ? String(y) : String(repeating: "0", count: 4 - String(y).count) + String(y)
        return "\(year)-\(two(m))-\(two(d))T\(two(secs / 3600)):\(two(secs / 60 % 60)):\(two(secs % 60))Z"
    }

    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
