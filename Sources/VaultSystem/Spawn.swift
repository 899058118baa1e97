import CProcessShim
#if canImport(Glibc)
import Glibc
#endif

/// Starting other programs: nothing inherited but what is meant (descriptors, signal mask and dispositions), and
/// optionally a child isolated from paths it must not reach.
public enum Spawn {
    /// The step at which starting an isolated child failed.
    public enum Step: Int32, Sendable {
        case exec = 0, namespace = 1, idMap = 2, mount = 3, cwd = 4, fds = 5, fork = 6
    }

    /// What to start and how.
    public struct Child {
        public var argv: [String]
        public var environment: [String: String]
        /// Whether to start it in a new mount namespace (inside a new user namespace unless vault runs as root).
        public var isolate: Bool
        /// Covered by an empty read-only tmpfs (directories) or /dev/null (files) in that namespace.
        public var hiddenDirectories: [String]
        public var hiddenFiles: [String]
        /// Descriptors above 2 the child keeps.
        public var keep: [Int32]

        public init(argv: [String], environment: [String: String], isolate: Bool, hiddenDirectories: [String], hiddenFiles: [String], keep: [Int32]) {
            self.argv = argv
            self.environment = environment
            self.isolate = isolate
            self.hiddenDirectories = hiddenDirectories
            self.hiddenFiles = hiddenFiles
            self.keep = keep
        }
    }

    /// A failure to start: the errno value, the step, and (for `.mount`) which hidden path (directories first).
    public struct Failure: Error, Sendable {
        public let errno: Int32
        public let step: Step
        public let index: Int
    }

    /// Starts `child` from the current directory; its pid, or the failure.
    public static func start(_ child: Child) -> Result<Int32, Failure> {
        let cArgs: [UnsafeMutablePointer<CChar>?] = child.argv.map { strdup($0) } + [nil]
        let cEnv: [UnsafeMutablePointer<CChar>?] = child.environment.sorted(by: { $0.key < $1.key }).map { strdup("\($0.key)=\($0.value)") } + [nil]
        let dirs: [UnsafePointer<CChar>?] = child.hiddenDirectories.map { UnsafePointer(strdup($0)) }
        let files: [UnsafePointer<CChar>?] = child.hiddenFiles.map { UnsafePointer(strdup($0)) }
        let cwd = getcwd(nil, 0)
        defer {
            for p in cArgs { free(p) }
            // The environment may hold a secret header: zero it before freeing.
            for p in cEnv { if let p { memset(p, 0, strlen(p)); free(p) } }
            for p in dirs + files { free(UnsafeMutablePointer(mutating: p)) }
            free(cwd)
        }
        var pid: Int32 = 0, step: Int32 = 0, index: Int32 = -1
        let rc = child.argv[0].withCString { program in
            cArgs.withUnsafeBufferPointer { a in
                cEnv.withUnsafeBufferPointer { e in
                    dirs.withUnsafeBufferPointer { d in
                        files.withUnsafeBufferPointer { f in
                            child.keep.withUnsafeBufferPointer { k in
                                var spec = vault_child_spec(
                                    program: program, argv: a.baseAddress, envp: e.baseAddress, isolate: child.isolate ? 1 : 0,
                                    hide_dirs: d.baseAddress, hide_dir_count: Int32(d.count),
                                    hide_files: f.baseAddress, hide_file_count: Int32(f.count),
                                    cwd: UnsafePointer(cwd), keep_fds: k.baseAddress, keep_fd_count: Int32(k.count))
                                return vault_spawn_child(&pid, &spec, &step, &index)
                            }
                        }
                    }
                }
            }
        }
        guard rc == 0 else { return .failure(Failure(errno: rc, step: Step(rawValue: step) ?? .exec, index: Int(index))) }
        return .success(pid)
    }

    /// Starts `argv` in a new session with nothing inherited but 0, 1 and 2 (a daemon: the agent). 0 or an errno.
    public static func detached(_ argv: [String], environment: [String: String]) -> (pid: Int32, errno: Int32) {
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        var cEnv: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in cArgs { free(p) }; for p in cEnv { free(p) } }
        var pid: Int32 = 0
        let rc = vault_spawn_detached(&pid, argv[0], &cArgs, &cEnv)
        return (pid, rc)
    }

    /// Whether `pid` ended: its exit code (128 + N for signal N), nil while it runs, -1 on error.
    public static func reap(_ pid: Int32) -> Int32? {
        var status: Int32 = 0
        switch vault_reap(pid, &status) {
        case 1: return vault_exit_code(status)
        case 0: return nil
        default: return -1
        }
    }
}
