import FoundationEssentials

/// Any JSON value, so a cache can be read and written back without losing sections or fields vault does not know.
public enum JSONValue: Codable, Equatable, Sendable {
    case object([String: JSONValue])
    case array([JSONValue])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .object(let o): try c.encode(o)
        case .array(let a): try c.encode(a)
        case .string(let s): try c.encode(s)
        case .number(let n):
            if n.rounded() == n, abs(n) < 1e15 { try c.encode(Int64(n)) } else { try c.encode(n) }
        case .bool(let b): try c.encode(b)
        case .null: try c.encodeNil()
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var object: [String: JSONValue]? { if case .object(let o) = self { return o }; return nil }

    /// A number or a numeric string (MSAL writes times as decimal strings; readers also accept integers).
    /// Only whole seconds from 1970 up to the year 9999 count; anything else (1e300, negative, fractions) is nil.
    public var seconds: Int64? {
        let value: Int64?
        switch self {
        case .number(let n): value = Int64(exactly: n)
        case .string(let s): value = Int64(s)
        default: value = nil
        }
        guard let value, (0...Self.maxSeconds).contains(value) else { return nil }
        return value
    }

    /// 9999-12-31T23:59:59Z.
    public static let maxSeconds: Int64 = 253_402_300_799
}
