/// The one error type vault's layers throw: a stable `code` for programs, a human `reason`, an optional `hint`
/// telling the user what to do, and the sysexits exit code the CLI ends with.
public struct VaultError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: String
    public var reason: String
    public var hint: String?
    public var exitCode: Int32

    public init(_ code: String, _ reason: String, hint: String? = nil, exit: ExitStatus = .software) {
        self.code = code
        self.reason = reason
        self.hint = hint
        self.exitCode = exit.rawValue
    }

    public var description: String { reason }

    /// sysexits(3) values used by the CLI.
    public enum ExitStatus: Int32, Sendable {
        case usage = 64, dataError = 65, noInput = 66, unavailable = 69, software = 70
        case ioError = 74, tempFailure = 75, noPermission = 77, config = 78
    }
}
