import ArgumentParser
import VaultAdminCommands
import VaultCLI
import VaultCrypto
import VaultErrors
import VaultRunCommands
import VaultSystem
#if canImport(Glibc)
import Glibc
#endif

/// Process entry: hardening first, then parse and run, mapping every error to `vault: error:` / `vault: hint:`.
@main
enum Entry {
    static func main() {
        // A write past the file-size limit fails with EFBIG (and is cleaned up) instead of killing vault mid-write.
        signal(SIGXFSZ, SIG_IGN)
        // Each failed hardening step is said once, at the start, never silently skipped.
        let problems = ProcessHardening.apply()
        for problem in problems {
            Console.warn(problem.what)
            Console.hint(problem.hint)
        }
        // The start-up probe locks one page; a small limit can still run out later. Said once, when it first happens.
        if !problems.contains(where: { $0.step == .memoryLock }) {
            SecretMemory.onFirstLockFailure { code in
                let limit = SecretMemory.limit.map { "RLIMIT_MEMLOCK is \($0 / 1024) KiB" } ?? "mlock failed"
                Console.warn("secret memory could not be locked (\(limit), \(String(cString: strerror(code)))): from now on secrets may be written to swap")
                Console.hint("raise the memlock limit (`ulimit -l`, LimitMEMLOCK= in systemd), or use encrypted swap")
            }
        }
        #if DEBUG
        if getenv("VAULT_TEST_COUNT_KDF") != nil {
            // For the tests (debug builds only): how many times Argon2id ran, whatever way the command ends.
            atexit {
                let n = PasswordHash.derivations.load(ordering: .relaxed)
                Console.err("vault: test: Argon2id ran \(n) time\(n == 1 ? "" : "s")")
            }
        }
        #endif
        do {
            // `vault token APP`, the command scripts run most, skips ArgumentParser's reflection when its command line
            // is one TokenCommandLine reads in full; anything else is parsed as always. Both run TokenRequest.run().
            if let request = TokenCommandLine.parse(CommandLine.arguments) {
                try request.run()
            } else {
                var command = try VaultCommand.parseAsRoot()
                try command.run()
            }
        } catch let error as VaultError {
            Console.report(error)
            exit(ErrorWords.exitStatus(error))
        } catch {
            let code = VaultCommand.exitCode(for: error)
            if code == .success {
                Console.out(VaultCommand.fullMessage(for: error))
                exit(0)
            }
            if let code = error as? ExitCode { exit(code.rawValue) }
            let message = VaultCommand.message(for: error)
            Console.report(VaultError("usage", message.isEmpty ? "invalid command line" : message, context: ["case": "command_line"]))
            exit(code == .validationFailure ? 64 : code.rawValue)
        }
    }
}

struct VaultCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault",
        abstract: "Keep Entra ID app credentials encrypted on disk and use them without exposing a secret.",
        version: VaultVersion.string,
        subcommands: [
            InitCommand.self, AddAppCommand.self, ListCommand.self, ShowCommand.self, RemoveCommand.self,
            PasswdCommand.self, KeyCommand.self, KeyRekeyCommand.self, TokenCommand.self, CacheCommand.self, RunCommand.self,
            RotateCommand.self, RotateCertCommand.self, FederateCommand.self, StatusCommand.self, ReportCommand.self, ExecCommand.self, ServeCommand.self, AuditCommand.self, AgentCommand.self, UnlockCommand.self, LockCommand.self, BackendCommand.self, IssuerCommand.self,
        ]
    )
}

