import Foundation
import Testing
import VaultTestSupport

/// Process hardening that does not take effect is said once, with a hint; it never silently goes missing.
@Suite("Process hardening is reported", .timeLimit(.minutes(5)))
struct HardeningTests {
    @Test("memory that cannot be locked (no CAP_IPC_LOCK, memlock limit 0): one warning with a hint, and the command still works")
    func mlockFailure() throws {
        let v = try CLIVault()
        #expect(try v.addApp("a").status == 0)
        // The real failure, not a simulation: drop the capability that lets root lock memory, and the limit to 0.
        let wrapper: [String] = geteuid() == 0
            ? ["--bounding-set", "-ipc_lock", "--inh-caps", "-ipc_lock", "/usr/bin/prlimit", "--memlock=0", VaultRunner.vaultPath]
            : ["--memlock=0", VaultRunner.vaultPath]
        let r = try VaultRunner.run(wrapper + ["list", "--vault", v.vaultPath, "--key-file", v.keyFile],
                                    executable: geteuid() == 0 ? "/usr/bin/setpriv" : "/usr/bin/prlimit")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("a "))
        let warnings = r.stderr.components(separatedBy: "vault: warning: secret memory cannot be locked").count - 1
        #expect(warnings == 1, "\(r.stderr)")
        #expect(r.stderr.contains("vault: hint: raise the memlock limit"))
        // Normally: silent.
        let normal = try v.run(["list"])
        #expect(!normal.stderr.contains("warning"), "\(normal.stderr)")
    }

    @Test("failed RLIMIT_CORE and PR_SET_DUMPABLE are reported too (debug-build failure injection)")
    func coreAndDumpable() throws {
        let v = try CLIVault()
        let r = try v.run(["list"], env: ["VAULT_TEST_HARDENING_FAIL": "core,dumpable"])
        #expect(r.status == 0)
        #expect(r.stderr.contains("vault: warning: core dumps could not be disabled"))
        #expect(r.stderr.contains("vault: hint: run vault with `ulimit -c 0`"))
        #expect(r.stderr.contains("vault: warning: the process could not be made non-dumpable"))
    }
}

@Suite("Half-written files are removed", .timeLimit(.minutes(5)))
struct HalfWrittenTests {
    @Test("a new key file that cannot be written completely (file-size limit) is removed, and the vault is unchanged")
    func keyFileRemoved() throws {
        let v = try CLIVault()
        let before = v.snapshot()
        let target = v.dir.file("new.key")
        let r = try VaultRunner.run(["--fsize=10", VaultRunner.vaultPath, "key", "add-file", target, "--vault", v.vaultPath, "--key-file", v.keyFile],
                                    executable: "/usr/bin/prlimit")
        #expect(r.status == 74, "\(r.stderr)")
        #expect(r.stderr.contains("vault: error: cannot write \(target)"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: target), "a 10-byte stump of a key file was left behind")
        #expect(v.snapshot().filter { !$0.key.hasSuffix(".lock") } == before.filter { !$0.key.hasSuffix(".lock") })
    }
}
