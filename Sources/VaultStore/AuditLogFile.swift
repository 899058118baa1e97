import Synchronization
import VaultCrypto
import VaultErrors
import VaultFormat
import VaultRecords
#if canImport(Glibc)
import Glibc
#endif

/// The append-only audit log: one JSON line per event, each written with a single `write(2)` to a descriptor opened
/// `O_APPEND`, so lines from several processes never interleave (docs/FORMAT.md §7). Its growth is bounded:
/// - past `maxBytes` the file is renamed to `PATH.1` (replacing the previous one) and a new one started, so the log
///   holds at most twice `maxBytes` (the writer that rotates holds `flock` on the old file; the others see the new
///   inode and reopen);
/// - a line is not written while the file system would be left with less than `reserve` free (5% of it, at least
///   1 MiB and at most 64 MiB): the vault's own files need that space more than the log.
/// `reopen()` (SIGHUP in `vault serve`) follows a log rotated by logrotate.
public final class AuditLogFile: Sendable {
    /// Default `maxBytes`: 32 MiB (`$VAULT_AUDIT_MAX_BYTES` in the CLI).
    public static let defaultMaxBytes: Int64 = 32 << 20
    public let maxBytes: Int64

    public enum Target: Sendable, Equatable {
        case file(String)
        /// Standard error (for `vault serve` under journald).
        case standardError
    }

    public let target: Target
    private let descriptor: Mutex<Int32>
    /// The longest line written; longer events are cut at a field boundary by their encoder.
    public static let maxLine = 4096

    public init(_ target: Target, maxBytes: Int64 = AuditLogFile.defaultMaxBytes) throws {
        self.target = target
        self.maxBytes = max(4096, maxBytes)
        descriptor = Mutex(try Self.open(target))
    }

    static func open(_ target: Target) throws -> Int32 {
        guard case .file(let path) = target else { return 2 }
        // O_NONBLOCK: a FIFO put in the log's place fails at once (ENXIO) instead of blocking the writer (the agent) forever.
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0o600)
        guard fd >= 0 else {
            throw VaultError("audit.open", "cannot open the audit log \(path): \(FileSystem.errorText())")
        }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw VaultError("audit.open", "the audit log \(path) is not a regular file")
        }
        guard st.st_uid == geteuid(), st.st_mode & 0o077 == 0 else {
            close(fd)
            throw VaultError("audit.open", "the audit log \(path) is not private to its owner (mode \(String(st.st_mode & 0o777, radix: 8)))", context: ["case": "permissions", "path": path])
        }
        return fd
    }

    /// Appends one line (a newline is added). Throws when the line could not be written whole, or when the file system
    /// is too full to take it (code `audit.no_space`: the line is dropped, the vault keeps its space).
    public func append(_ line: [UInt8]) throws {
        var bytes = line
        bytes.append(0x0a)
        try descriptor.withLock { fd in
            if case .file(let path) = target {
                var st = stat()
                if fstat(fd, &st) == 0, Int64(st.st_size) + Int64(bytes.count) > maxBytes { fd = try rotate(fd, path: path) }
                var fs = statvfs()
                if fstatvfs(fd, &fs) == 0 {
                    // In Double: a file system (FUSE) may report counts whose product overflows 64 bits.
                    let total = Double(fs.f_blocks) * Double(fs.f_frsize), free = Double(fs.f_bavail) * Double(fs.f_frsize)
                    let reserve = Int64(max(Double(1 << 20), min(Double(64 << 20), total / 20)))
                    if free - Double(bytes.count) < Double(reserve) {
                        throw VaultError("audit.no_space", "the file system of \(path) has less than \(reserve >> 20) MiB free; audit lines are not written until it has more")
                    }
                }
            }
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n == bytes.count else {
                throw VaultError("audit.write", "cannot write the audit log: \(n < 0 ? FileSystem.errorText() : "short write")")
            }
        }
    }

    /// Moves a full log to `PATH.1` (unless another writer did already) and opens a new one. Under `flock` on the old
    /// file, so two writers never both rename.
    private func rotate(_ fd: Int32, path: String) throws -> Int32 {
        flock(fd, LOCK_EX)
        defer { flock(fd, LOCK_UN) }
        var mine = stat(), current = stat()
        if fstat(fd, &mine) == 0, lstat(path, &current) == 0, mine.st_ino == current.st_ino, mine.st_dev == current.st_dev {
            guard rename(path, path + ".1") == 0 else {
                throw VaultError("audit.rotate", "cannot move the full audit log \(path) to \(path).1: \(FileSystem.errorText())")
            }
        }
        let fresh = try Self.open(target)
        if fd > 2 { close(fd) }
        return fresh
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

    /// Every line of the log at `path`, the rotated `PATH.1` first (a missing log has none).
    public static func lines(at path: String) throws -> [Substring] {
        var out: [Substring] = []
        for file in [path + ".1", path] {
            guard let bytes = try FileSystem.read(file, limit: 1 << 30) else { continue }
            out += String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
        }
        return out
    }
}
