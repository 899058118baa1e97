import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// How long this process may still act as the holder of a fleet lock, by its own clock. The engine dates a lock write
/// when it applies it, which is after this process sent it, and the lock holds `ttl` from that date (`FleetLock`): so
/// it holds at least `ttl` from the moment this process *sent* a write that succeeded (engine and host clocks run at
/// the same rate; their offsets do not matter). Time is `CLOCK_BOOTTIME`, which keeps counting while the process is
/// stopped (SIGSTOP) or the machine suspended (a VM migrated): a holder that wakes sees the time it lost.
public struct LockLease: Sendable, Equatable {
    /// When the last successful lock write was sent, in `LockLease.now()` seconds.
    public var sent: Double
    public var ttl: Double

    public init(sent: Double, ttl: Double) {
        self.sent = sent
        self.ttl = ttl
    }

    /// The lock certainly holds for `ttl - (now - sent)` more seconds.
    public func remaining(at now: Double) -> Double { sent + ttl - now }

    /// Whether a write may still leave on this lease: at least half the ttl remains, which covers the write's own way
    /// to the server (a write held up longer than that can still land late: nothing in Graph can refuse it).
    public func vouches(at now: Double) -> Bool { remaining(at: now) >= ttl / 2 }

    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
