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
