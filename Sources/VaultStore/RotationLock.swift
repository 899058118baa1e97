import VaultErrors
import VaultSystem
import VaultCrypto
import VaultFormat
import VaultRecords
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive open-file-description lock (`F_OFD_SETLK[W]`) on a byte range of a lock file in the vault directory
/// (docs/FORMAT.md §1). One file serves every app: each app stands for one byte, at an offset derived from its name,
/// so the directory never names an app; two names that hash to the same byte merely take turns. A lock on the whole
/// file (length 0) conflicts with every app's byte. The kernel drops the lock when its holder dies.
public final class RangeLock: @unchecked Sendable {
    // @unchecked: `fd` is only touched by the owner's release() / deinit.
    private var fd: Int32
    private let offset: Int64
    private let length: Int64

    private init(fd: Int32, offset: Int64, length: Int64) {
        self.fd = fd
        self.offset = offset
        self.length = length
    }

    /// The byte that stands for `app`: 62 bits of BLAKE2b of its name.
    static func offset(for app: String) -> Int64 {
        let h = KeyDerivation.hash(Array(app.utf8), length: 8)
        let v = h.reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
        return Int64(v & 0x3FFF_FFFF_FFFF_FFFF)
    }

    /// Locks `length` bytes at `offset` of `path` (length 0: the whole file). With `wait` false, returns nil at once
    /// when another process holds any of them.
    static func acquire(path: String, offset: Int64, length: Int64, wait: Bool) throws -> RangeLock? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw VaultError("io.lock", "cannot open lock \(path): \(FileSystem.errorText())")
        }
        while true {
            let e = ByteRangeLock.lock(fd, offset: offset, length: length, wait: wait)
            if e == 0 { break }
            if e == EINTR { continue }
            close(fd)
            if !wait && (e == EAGAIN || e == EACCES) { return nil }
            throw VaultError("io.lock", "cannot lock \(path): \(String(cString: strerror(e)))")
        }
        return RangeLock(fd: fd, offset: offset, length: length)
    }

    /// Takes the rotation lock of `app` (`rotation.lock`). With `wait` false, returns nil at once when another
    /// process holds it.
    public static func acquire(_ directory: VaultDirectory, app: String, wait: Bool) throws -> RangeLock? {
        try acquire(path: directory.path + "/" + rotationFileName, offset: offset(for: app), length: 1, wait: wait)
    }

    /// Waits for the token lock of `app` (`tokens.lock`): one process at a time fetches or writes that app's tokens.
    public static func tokens(_ directory: VaultDirectory, app: String) throws -> RangeLock {
        try acquire(path: directory.path + "/" + VaultDirectory.cacheLockFileName, offset: offset(for: app), length: 1, wait: true)!
    }

    /// Waits for every app's token lock at once (a rekey, clearing or migrating the whole cache).
    public static func allTokens(_ directory: VaultDirectory) throws -> RangeLock {
        try acquire(path: directory.path + "/" + VaultDirectory.cacheLockFileName, offset: 0, length: 0, wait: true)!
    }

    public static let rotationFileName = "rotation.lock"

    public func release() {
        if fd >= 0 {
            ByteRangeLock.unlock(fd, offset: offset, length: length)
            close(fd)
            fd = -1
        }
    }

    deinit { release() }
}

/// One rotation at a time per app, across processes: the app's byte of `rotation.lock`.
public typealias RotationLock = RangeLock

extension RangeLock {
    public static var fileName: String { rotationFileName }
}
