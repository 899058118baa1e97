/// The one error type vault's libraries throw. It says what happened and nothing about how to present it:
/// - `code`: stable and typed, for programs (the audit log records it) and for the CLI's table, which alone turns a
///   code into an exit status and a hint (`Sources/vault/ErrorWords.swift`);
/// - `reason`: what happened, in facts, never a command-line flag, a command or an exit status;
/// - `context`: named values the CLI may put into its words — an app's name, a path, a backend, an errno — never a
///   secret.
public struct VaultError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: Code
    public var reason: String
    public var context: Context

    public init(_ code: Code, _ reason: String, context: Context = [:]) {
        self.code = code
        self.reason = reason
        self.context = context
    }

    public var description: String { reason }

    /// The same error with more said about what happened; code and context kept.
    public func saying(_ more: String) -> VaultError { VaultError(code, reason + more, context: context) }

    /// A dotted name such as `rotation.pending`: the family first, then the case.
    public struct Code: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { rawValue = value }
        public var description: String { rawValue }
        /// True for this code and every code below it (`graph` matches `graph.throttled`).
        public func isIn(_ family: Code) -> Bool {
            rawValue == family.rawValue || rawValue.hasPrefix(family.rawValue + ".")
        }
    }

    /// Named values, in the order given. A list, not a Dictionary: errors are made on the warm `vault token` path,
    /// where the first Dictionary of a process costs a scan of the binary's conformance records.
    public struct Context: Equatable, Sendable, ExpressibleByDictionaryLiteral {
        public private(set) var pairs: [(key: String, value: String)]
        public init(dictionaryLiteral elements: (String, String)...) { pairs = elements.map { (key: $0.0, value: $0.1) } }
        public subscript(key: String) -> String? {
            get { pairs.first { $0.key == key }?.value }
            set {
                pairs.removeAll { $0.key == key }
                if let newValue { pairs.append((key: key, value: newValue)) }
            }
        }
        /// `outer`, with this (a cause's) context kept under `cause.` names, so its words can still be chosen.
        public func wrapped(in outer: Context) -> Context {
            var c = outer
            for p in pairs where p.key != "case" { c["cause." + p.key] = p.value }
            if let k = self["case"] { c["cause.case"] = k }
            return c
        }

        public static func == (a: Context, b: Context) -> Bool {
            a.pairs.count == b.pairs.count && zip(a.pairs, b.pairs).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        }
    }
}
