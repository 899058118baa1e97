import Synchronization
import VaultCrypto
#if canImport(Glibc)
import Glibc
#endif

/// The append-only audit log: one JSON line per event, each written with a single `write(2)` to a descriptor opened
/// `O_APPEND`, so lines from several processes never interleave (docs/FORMAT.md §7). Never truncated or rewritten by
/// vault; `reopen()` (SIGHUP in `vault serve`) follows a log rotated by logrotate.
public final class AuditLogFile: Sendable {
    public enum Target: Sendable, Equatable {
        case file(String)
        /// Standard error (for `vault serve` under journald).
        case standardError
    }

    public let target: Target
    private let descriptor: Mutex<Int32>
    /// The longest line written; longer events are cut at a field boundary by their encoder.
    public static let maxLine = 4096

    public init(_ target: Target) throws {
        self.target = target
        descriptor = Mutex(try Self.open(target))
    }

    static func open(_ target: Target) throws -> Int32 {
        guard case .file(let path) = target else { return 2 }
        // O_NONBLOCK: a FIFO put in the log's place fails at once (ENXIO) instead of blocking the writer (the agent) forever.
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0o600)
        guard fd >= 0 else {
            throw VaultError("audit.open", "cannot open the audit log \(path): \(FileSystem.errorText())", exit: .ioError)
        }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw VaultError("audit.open", "the audit log \(path) is not a regular file", exit: .ioError)
        }
        guard st.st_uid == geteuid(), st.st_mode & 0o077 == 0 else {
            close(fd)
            throw VaultError("audit.open", "the audit log \(path) is not private to its owner (mode \(String(st.st_mode & 0o777, radix: 8)))",
                             hint: "chmod 600 \(path)", exit: .noPermission)
        }
        return fd
    }

    /// Appends one line (a newline is added). Throws when the line could not be written whole.
    public func append(_ line: [UInt8]) throws {
        var bytes = line
        bytes.append(0x0a)
        try descriptor.withLock { fd in
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n == bytes.count else {
                throw VaultError("audit.write", "cannot write the audit log: \(n < 0 ? FileSystem.errorText() : "short write")", exit: .ioError)
            }
        }
    }

    /// Opens the path again (after the file was moved away); keeps the old descriptor if that fails.
    public func reopen() throws {
        let fresh = try Self.open(target)
        descriptor.withLock { fd in
            if fd > 2 { close(fd) }
            fd = fresh
        }
    }

    deinit {
        descriptor.withLock { fd in if fd > 2 { close(fd) } }
    }

    /// Every line of the log at `path` (a missing log has none).
    public static func lines(at path: String) throws -> [Substring] {
        guard let bytes = try FileSystem.read(path, limit: 1 << 30) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
    }
}
