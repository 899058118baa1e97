import CProcessShim
#if canImport(Glibc)
import Glibc
#endif

/// The signals vault takes itself (TERM, INT, HUP, QUIT, USR1, USR2, CHLD): blocked before any thread starts, then
/// taken by one thread with `sigwait`, never by a handler.
public enum Signals {
    /// Blocks them in the calling thread (threads started later inherit the mask). False when that failed.
    public static func block() -> Bool { vault_block_signals() == 0 }

    /// The next one of them (its number), or -1.
    public static func wait() -> Int32 { vault_wait_signal() }

    /// The next one within `seconds` (0: one already pending), 0 when none came, -1 on error.
    public static func wait(seconds: Int32) -> Int32 { vault_wait_signal_for(seconds) }
}

/// systemd's notification protocol (`sd_notify`) over `$NOTIFY_SOCKET`.
public enum ServiceNotify {
    /// Sends `state` (`READY=1`, `STOPPING=1`, …) to the socket at `path`; false when it could not be sent.
    @discardableResult
    public static func send(_ state: String, to path: String) -> Bool { vault_notify(path, state) == 0 }
}

/// The credentials of the process at the other end of a connected Unix socket (`SO_PEERCRED`).
public enum PeerCredentials {
    public static func of(_ fd: Int32) -> (uid: UInt32, pid: Int32)? {
        var uid: UInt32 = 0
        var pid: Int32 = 0
        guard vault_peer_credentials(fd, &uid, &pid) == 0 else { return nil }
        return (uid, pid)
    }
}

/// POSIX byte-range locks (`fcntl` open file description locks): released by `unlock` or by closing the descriptor.
public enum ByteRangeLock {
    /// 0 on success, else the errno (EAGAIN or EACCES: another description holds part of it, when `wait` is false).
    public static func lock(_ fd: Int32, offset: Int64, length: Int64, wait: Bool) -> Int32 {
        vault_lock_range(fd, offset, length, wait ? 1 : 0) == 0 ? 0 : errno
    }

    public static func unlock(_ fd: Int32, offset: Int64, length: Int64) { _ = vault_unlock_range(fd, offset, length) }
}

/// The git revision a release or install build was given (nil for a plain `swift build`).
public enum BuildInfo {
    public static var revision: String? { vault_build_revision().map { String(cString: $0) } }
}
