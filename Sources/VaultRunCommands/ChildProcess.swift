import VaultCLI
import VaultErrors
import VaultSystem
import FoundationEssentials
import VaultAgent
import VaultCrypto
import VaultStore
import VaultFormat
import VaultRecords
#if canImport(Glibc)
import Glibc
#endif

/// What a child of `vault exec` must not reach, and how it is kept from it.
///
/// The child runs as the same user, so file permissions do not separate it from the vault. Where the kernel allows,
/// it starts in a mount namespace of its own (entered through a user namespace that maps only this uid, unless vault
/// runs as root) in which the vault directory, the agent's socket directory, the key or passphrase file vault was
/// started with, the audit log and the systemd credentials directory are covered: directories by an empty read-only
/// tmpfs, files by /dev/null. Everything else is the same: uid, files, network, environment, signals, exit status.
package struct ChildIsolation {
    package enum Mode: Equatable {
        case preferred   // isolate where possible, else warn once and run without
        case required    // isolate or refuse (exit 77)
        case off         // --no-isolation
    }
    package var mode: Mode
    package var hiddenDirectories: [String] = []
    package var hiddenFiles: [String] = []

    /// The paths of `options` and `environment` that unlock or describe the vault, as they exist now (resolved).
    package static func paths(options: VaultOptions, environment: [String: String], auditLog: String?) throws -> (dirs: [String], files: [String]) {
        var dirs: [String] = [try options.directory().path]
        var files: [String] = []
        for p in [options.keyFile, environment["VAULT_KEY_FILE"], options.passphraseFile, environment["VAULT_PASSPHRASE_FILE"], auditLog] {
            if let p, !p.isEmpty { files.append(p) }
        }
        if let creds = environment["CREDENTIALS_DIRECTORY"], !creds.isEmpty { dirs.append(creds) }
        // The agent's directories: the one this environment names and the others an agent of this user may use. Each
        // is the agent's own (it refuses one that is not private), so covering it hides nothing else. Made now if
        // missing, as the agent makes it, so an agent started (or restarted) while the child runs puts its socket
        // where the child cannot see it. A socket file alone is not covered: a new agent replaces it by a new file.
        var socketDirs = [AgentSocket.path(environment: environment), "/tmp/vault-agent-\(geteuid())/agent.sock"]
        if let run = environment["XDG_RUNTIME_DIR"], !run.isEmpty { socketDirs.append(run + "/vault/agent.sock") }
        for socket in socketDirs {
            let dir = String(socket[..<(socket.lastIndex(of: "/") ?? socket.startIndex)])
            guard !dir.isEmpty else { continue }
            if mkdir(dir, 0o700) != 0 && errno != EEXIST { continue }  // its parent is missing: nothing to hide
            dirs.append(dir)
        }
        // The audit log is created now if missing, so vault's own writes during the run do not create it visible.
        if let auditLog, !auditLog.isEmpty {
            let fd = open(auditLog, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o600)
            if fd >= 0 { close(fd) }
        }
        func resolved(_ paths: [String], directories: Bool) -> [String] {
            var out: [String] = []
            for p in paths {
                guard let r = realpath(p, nil) else { continue }
                defer { free(r) }
                var st = stat()
                guard stat(r, &st) == 0 else { continue }
                let isDir = st.st_mode & S_IFMT == S_IFDIR
                guard isDir == directories else { continue }
                let path = String(cString: r)
                if !out.contains(path) { out.append(path) }
            }
            return out
        }
        // A path may be given as a directory where a file was expected (or the reverse): each goes where it fits.
        // A path under a directory already covered is hidden with it (and could not be mounted on in the tmpfs).
        let all = dirs + files
        var hiddenDirs: [String] = []
        for d in resolved(all, directories: true).sorted(by: { $0.count < $1.count })
        where !hiddenDirs.contains(where: { d == $0 || d.hasPrefix($0 == "/" ? "/" : $0 + "/") }) {
            hiddenDirs.append(d)
        }
        let hiddenFiles = resolved(all, directories: false).filter { f in !hiddenDirs.contains(where: { f.hasPrefix($0 == "/" ? "/" : $0 + "/") }) }
        return (hiddenDirs, hiddenFiles)
    }
}

/// The descriptors above stderr that vault itself was given (by the shell or a service manager): they are the only
/// ones a child inherits besides 0, 1 and 2. Read before vault opens anything of its own.
package enum GivenDescriptors {
    package static func current() -> [Int32] {
        guard let dir = opendir("/proc/self/fd") else { return [] }
        defer { closedir(dir) }
        let own = dirfd(dir)
        var fds: [Int32] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if let fd = Int32(name), fd > 2, fd != own { fds.append(fd) }
        }
        return fds.sorted()
    }
}

/// Runs a child with signals forwarded (the caller has blocked them with `Signals.block()`).
package enum ChildProcess {
    /// What happened to the isolation of a started child.
    package enum Isolation: Equatable {
        case isolated
        case notIsolated(reason: String)
        case off
    }

    /// Starts `argv`, then waits for it, passing on signals. Returns the child's exit status (128 + N when a signal N
    /// ended it). `started` receives the pid and whether the child is isolated, before the wait.
    package static func run(_ argv: [String], environment: [String: String], isolation: ChildIsolation, keep: [Int32],
                    started: (Int32, Isolation) throws -> Void) throws -> Int32 {
        func spawn(isolate: Bool) -> Result<Int32, Spawn.Failure> {
            Spawn.start(Spawn.Child(argv: argv, environment: environment, isolate: isolate, hiddenDirectories: isolation.hiddenDirectories,
                                    hiddenFiles: isolation.hiddenFiles, keep: keep))
        }
        var outcome: Isolation = isolation.mode == .off ? .off : .isolated
        if isolation.mode != .off && geteuid() == 0 {
            // The paths are still covered, but a program running as root can remove what covers them.
            let reason = "vault runs as root, and a root program can undo what hides the vault"
            if isolation.mode == .required {
                throw VaultError("exec.isolation", "cannot isolate \(argv[0]) from the vault (\(reason))")
            }
            outcome = .notIsolated(reason: reason)
        }
        var result = spawn(isolate: isolation.mode != .off)
        if case .failure(let f) = result, isolation.mode != .off, f.step == .namespace || f.step == .idMap {
            // The kernel or a policy refuses namespaces (user.max_user_namespaces = 0, AppArmor's
            // restrict_unprivileged_userns, a seccomp filter): said once, or refused with --require-isolation.
            let reason = "\(f.step == .namespace ? "cannot create a namespace" : "cannot map the user namespace"): \(String(cString: strerror(f.errno)))"
            outcome = .notIsolated(reason: reason)
            if isolation.mode == .required {
                throw VaultError("exec.isolation", "cannot isolate \(argv[0]) from the vault (\(reason))", context: ["case": "userns"])
            }
            result = spawn(isolate: false)
        }
        let pid: Int32
        switch result {
        case .failure(let f): throw spawnError(argv[0], f.errno, step: f.step, index: f.index, isolation: isolation)
        case .success(let p): pid = p
        }
        do {
            try started(pid, outcome)
        } catch {
            kill(pid, SIGTERM)
            throw error
        }
        while true {
            let sig = Signals.wait()
            if sig == SIGCHLD || sig < 0 {
                guard let code = Spawn.reap(pid) else { continue }
                return code < 0 ? 1 : code
            }
            kill(pid, sig)
        }
    }

    package static func spawnError(_ program: String, _ rc: Int32, step: Spawn.Step, index: Int, isolation: ChildIsolation) -> VaultError {
        let text = String(cString: strerror(rc))
        switch step {
        case .mount:
            let all = isolation.hiddenDirectories + isolation.hiddenFiles
            let what = all.indices.contains(index) ? all[index] : "/"
            return VaultError("exec.isolation", "cannot hide \(what) from \(program): \(text)", context: ["case": "hide"])
        case .cwd:
            return VaultError("exec.cwd", "cannot run \(program) from this directory: it lies in a directory hidden from the program (\(text))")
        case .exec:
            return VaultError("exec.spawn", "cannot run \(program): \(text)", context: ["errno": String(rc)])
        default:
            return VaultError("exec.spawn", "cannot start \(program): \(text)", context: ["case": "start"])
        }
    }
}
