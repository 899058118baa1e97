import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Whether secret memory is really locked. sodium_malloc locks each buffer's pages where RLIMIT_MEMLOCK allows and
/// says nothing when it cannot; `SecretBytes` locks again (a no-op for locked pages) and reports the first failure here,
/// so the program can say once that later secrets may reach swap.
public enum SecretMemory {
    private struct State {
        var failures = 0
        var reported = false
        var handler: (@Sendable (Int32) -> Void)?
    }
    private static let state = Mutex(State())

    /// Calls `handler` once, with the errno of the first buffer that could not be locked (now, if one already failed).
    public static func onFirstLockFailure(_ handler: @escaping @Sendable (_ errno: Int32) -> Void) {
        let fire: Bool = state.withLock {
            $0.handler = handler
            if $0.failures > 0 && !$0.reported { $0.reported = true; return true }
            return false
        }
        if fire { handler(ENOMEM) }
    }

    /// Buffers that could not be locked so far in this process.
    public static var lockFailures: Int { state.withLock { $0.failures } }

    static func noteUnlocked(errno code: Int32) {
        let handler: (@Sendable (Int32) -> Void)? = state.withLock {
            $0.failures += 1
            guard !$0.reported, let h = $0.handler else { return nil }
            $0.reported = true
            return h
        }
        handler?(code)
    }

    private static let pageSize = UInt(sysconf(Int32(_SC_PAGESIZE)))

    /// MADV_WIPEONFORK (Linux 4.14) on the pages holding `count` bytes at `pointer` (sodium_malloc's private anonymous
    /// mapping; the pages rounded out stay inside it). Older kernels refuse it, and the copy in a child then remains.
    static func wipeOnFork(_ pointer: UnsafeMutableRawPointer, count: Int) {
        let start = UInt(bitPattern: pointer) & ~(pageSize - 1)
        let end = (UInt(bitPattern: pointer) + UInt(count) + pageSize - 1) & ~(pageSize - 1)
        _ = madvise(UnsafeMutableRawPointer(bitPattern: start), Int(end - start), 18 /* MADV_WIPEONFORK */)
    }

    /// The soft RLIMIT_MEMLOCK in bytes (nil when unlimited).
    public static var limit: Int? {
        var l = rlimit()
        guard getrlimit(Int32(__RLIMIT_MEMLOCK.rawValue), &l) == 0, l.rlim_cur != rlim_t.max else { return nil }
        return Int(clamping: l.rlim_cur)
    }
}
