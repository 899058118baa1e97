import CProcessShim
#if canImport(Glibc)
import Glibc
#endif

/// Start-of-process hardening: no core dumps, no ptrace attach by same-user processes, and a check that secret
/// memory can be locked (sodium_malloc locks its pages where the memlock limit allows, and says nothing when it cannot).
public enum ProcessHardening {
    /// A hardening step that did not take effect, with what it means and how to fix it.
    public struct Problem: Sendable, Equatable {
        public enum Step: Sendable { case coreDumps, dumpable, memoryLock }
        public var step: Step
        public var what: String
        public var hint: String
    }

    /// Sets RLIMIT_CORE to 0 and PR_SET_DUMPABLE to 0, and probes mlock on one page. Returns what failed.
    @discardableResult
    public static func apply() -> [Problem] {
        var problems: [Problem] = []
        var limit = rlimit(rlim_cur: 0, rlim_max: 0)
        if setrlimit(Int32(RLIMIT_CORE.rawValue), &limit) != 0 || simulated("core") {
            problems.append(Problem(step: .coreDumps, what: "core dumps could not be disabled (setrlimit RLIMIT_CORE: \(errnoText())): a crash could write secrets to disk",
                                    hint: "run vault with `ulimit -c 0`, or set LimitCORE=0 in its systemd unit"))
        }
        if vault_set_not_dumpable() != 0 || simulated("dumpable") {
            problems.append(Problem(step: .dumpable, what: "the process could not be made non-dumpable (PR_SET_DUMPABLE: \(errnoText())): same-user processes may read its memory",
                                    hint: "check the seccomp or container policy that blocks prctl"))
        }
        if !canLockMemory() || simulated("mlock") {
            problems.append(Problem(step: .memoryLock, what: "secret memory cannot be locked (mlock: \(errnoText())): secrets may be written to swap",
                                    hint: "raise the memlock limit (`ulimit -l`, LimitMEMLOCK= in systemd) or use encrypted swap"))
        }
        return problems
    }

    static func canLockMemory() -> Bool {
        let size = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let page = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), page != MAP_FAILED else { return false }
        defer { munmap(page, size) }
        guard mlock(page, size) == 0 else { return false }
        munlock(page, size)
        return true
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }

    /// Debug builds only: `VAULT_TEST_HARDENING_FAIL=core,dumpable,mlock` reports those steps as failed, so the
    /// warnings can be tested where the real calls always succeed. Compiled out of release builds.
    static func simulated(_ step: String) -> Bool {
        #if DEBUG
        guard let v = getenv("VAULT_TEST_HARDENING_FAIL") else { return false }
        return String(cString: v).split(separator: ",").contains { $0 == step }
        #else
        return false
        #endif
    }

    public static var isDumpable: Bool { vault_is_dumpable() != 0 }
}
