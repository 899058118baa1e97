import CProcessShim
#if canImport(Glibc)
import Glibc
#endif

/// Start-of-process hardening: no core dumps, no ptrace attach by same-user processes.
public enum ProcessHardening {
    /// Sets RLIMIT_CORE to 0 and PR_SET_DUMPABLE to 0. Returns false if either call failed.
    @discardableResult
    public static func apply() -> Bool {
        var limit = rlimit(rlim_cur: 0, rlim_max: 0)
        let a = setrlimit(Int32(RLIMIT_CORE.rawValue), &limit)
        let b = vault_set_not_dumpable()
        return a == 0 && b == 0
    }

    public static var isDumpable: Bool { vault_is_dumpable() != 0 }
}
