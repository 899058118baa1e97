import FoundationEssentials

/// `Retry-After`: delay-seconds (fractions tolerated) or an HTTP-date (RFC 9110).
public enum RetryAfter {
    public static func seconds(_ value: String?, now: Date = Date()) -> Double? {
        guard let v = value?.trimmingCharacters(in: " \t"), !v.isEmpty else { return nil }
        if let d = Double(v), d.isFinite { return max(0, d) }
        // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        let parts = v.split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard parts.count == 6, let day = Int(parts[1]), let month = months.firstIndex(of: String(parts[2])),
              let year = Int(parts[3]), parts[5] == "GMT", (1...31).contains(day), (1...9999).contains(year) else { return nil }
        let hms = parts[4].split(separator: ":").compactMap { Int($0) }
        guard hms.count == 3, (0...23).contains(hms[0]), (0...59).contains(hms[1]), (0...60).contains(hms[2]) else { return nil }
        // Days from civil (Howard Hinnant's algorithm), proleptic Gregorian, UTC.
        let m = month + 1
        let y = m <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let epoch = Double(days * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
        return max(0, epoch - now.timeIntervalSince1970)
    }
}

/// Sleeping between attempts; tests can replace it.
public protocol Sleeper: Sendable {
    func sleep(seconds: Double)
}

public struct ThreadSleeper: Sleeper {
    public init() {}
    public func sleep(seconds: Double) {
        guard seconds > 0, seconds.isFinite else { return }
        let seconds = min(seconds, 86_400)
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 { request = remaining }
    }
}

#if canImport(Glibc)
import Glibc
#endif
