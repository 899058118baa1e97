import CProcessShim
import VaultCrypto
#if canImport(Glibc)
import Glibc
#endif

/// One rotation at a time per app, across processes: an exclusive open-file-description lock on one byte of
/// `rotation.lock`, at an offset derived from the app's name (docs/FORMAT.md §1). One file serves every app, so the
/// directory never names an app; two names that hash to the same byte merely take turns. The kernel drops the lock
/// when the process dies, so a killed rotator never leaves it held.
public final class RotationLock: @unchecked Sendable {
    // @unchecked: `fd` is only touched by the owner's release() / deinit.
    private var fd: Int32
    private let offset: Int64
    public static let fileName = "rotation.lock"

    private init(fd: Int32, offset: Int64) {
        self.fd = fd
        self.offset = offset
    }

    /// The byte that stands for `app`: 62 bits of BLAKE2b of its name.
    static func offset(for app: String) -> Int64 {
        let h = KeyDerivation.hash(Array(app.utf8), length: 8)
        let v = h.reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
        return Int64(v & 0x3FFF_FFFF_FFFF_FFFF)
    }

    /// Takes the lock of `app`. With `wait` false, returns nil at once when another process holds it.
    public static func acquire(_ directory: VaultDirectory, app: String, wait: Bool) throws -> RotationLock? {
        let path = directory.path + "/" + fileName
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw VaultError("io.lock", "cannot open lock \(path): \(FileSystem.errorText())", exit: .ioError)
        }
        let offset = offset(for: app)
        while vault_lock_byte(fd, offset, wait ? 1 : 0) != 0 {
            let e = errno
            if e == EINTR { continue }
            close(fd)
            if !wait && (e == EAGAIN || e == EACCES) { return nil }
            throw VaultError("io.lock", "cannot lock \(path): \(String(cString: strerror(e)))", exit: .ioError)
        }
        return RotationLock(fd: fd, offset: offset)
    }

    public func release() {
        if fd >= 0 {
            _ = vault_unlock_byte(fd, offset)
            close(fd)
            fd = -1
        }
    }

    deinit { release() }
}
