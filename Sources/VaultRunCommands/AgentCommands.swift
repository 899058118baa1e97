import ArgumentParser
import VaultCLI
import VaultErrors
import VaultSystem
import FoundationEssentials
import VaultAgent
import VaultCore
import VaultTokens
import VaultRotation
import VaultCrypto
import VaultStore
import VaultFormat
import VaultRecords
#if canImport(Glibc)
import Glibc
#endif

/// Durations on the command line: `30s`, `15m`, `8h`, `2d` (a bare number is seconds).
package enum DurationOption {
    package static func seconds(_ text: String, option: String) throws -> Int64 {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        let (digits, scale): (Substring, Int64) = text.last.flatMap { units[$0] }.map { (text.dropLast(), $0) } ?? (text[...], 1)
        guard let n = Int64(digits), n > 0, n <= 366 * 86400 / scale else {
            throw VaultError("usage", "\(option) \(text) is not a duration such as 30s, 15m, 8h or 2d (at most a year)")
        }
        return n * scale
    }
}

package struct AgentCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the unlock-once agent in the foreground (`vault unlock` starts one in the background).",
        discussion: """
        Holds unlocked vault keys in locked, wiped memory and gives them to `vault` processes of the same user over \
        a Unix socket ($VAULT_AGENT_SOCK, else $XDG_RUNTIME_DIR/vault/agent.sock; 0600 in a 0700 directory; each \
        peer's uid checked). A key is wiped after --idle without use, after its lifetime, by `vault lock`, or when \
        the agent is stopped; the agent exits when its last key is gone. It never writes a key anywhere.
        """
    )

    @Option(help: ArgumentHelp("Wipe a key after this long unused (default 15m).", valueName: "duration")) var idle = "15m"
    @Option(name: .customLong("max-lifetime"), help: ArgumentHelp("Longest a key is held, whatever `unlock --for` asks (default 8h).", valueName: "duration"))
    package var maxLifetime = "8h"
    @Flag(help: "Print the keys the running agent holds, and exit.") var status = false

    package func run() throws {
        let path = AgentSocket.path(environment: Environment.current)
        if status {
            guard let keys = try agentCall({ try AgentClient(path: path).status() }) else {
                Console.out("no agent at \(path)")
                return
            }
            Console.out("agent at \(path): \(keys.count) key\(keys.count == 1 ? "" : "s")")
            for k in keys {
                Console.out("  vault \(hexString(k.vaultID))  idle limit in \(k.idleLeft) s, lifetime ends in \(k.lifetimeLeft) s")
            }
            return
        }
        let idleSeconds = try DurationOption.seconds(idle, option: "--idle")
        let maxSeconds = try DurationOption.seconds(maxLifetime, option: "--max-lifetime")
        guard Signals.block() else { throw VaultError("agent.signals", "cannot block signals") }
        let logs = AgentAuditLogs()
        let server = AgentServer(path: path, idle: idleSeconds, maxLifetime: maxSeconds, log: { Console.err("vault agent: \($0)") },
                                 audit: { logs.record($0) }, clock: { Int64(Date().timeIntervalSince1970) })
        try agentCall { try server.bind() }
        Console.err("vault agent: listening at \(path) (idle limit \(idleSeconds) s, lifetime at most \(maxSeconds) s)")
        server.run()
    }
}

/// The agent's audit lines: each handout goes to the audit log of the vault whose key it is (named by `vault unlock`).
package final class AgentAuditLogs {
    private var open: [String: AuditLog] = [:]

    func record(_ handout: AgentProtocol.Handout) {
        guard let path = handout.auditLog else { return }
        let log = open[path] ?? AuditLog(.file(path), maxBytes: NetworkOptions.auditMaxBytes(), warn: { Console.err("vault agent: \($0)") })
        open[path] = log
        log.record(AuditEvent(time: Date(), kind: .agentHandout, app: nil, clientID: nil, resource: nil,
                              requester: AuditRequester(command: "agent", peerUID: handout.peerUID, peerPID: handout.peerPID,
                                                        peerExecutable: handout.peerExecutable, peerCommand: handout.peerCommand),
                              outcome: "ok"))
    }
}

package struct UnlockCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "unlock",
        abstract: "Unlock the vault once and keep its key in the agent, so later commands do not ask again.",
        discussion: "Starts an agent in the background if none runs. `vault lock` wipes the key at once."
    )

    @OptionGroup package var options: VaultOptions
    @Option(name: .customLong("for"), help: ArgumentHelp("How long the agent keeps the key (default 15m; at most the agent's --max-lifetime).", valueName: "duration"))
    package var lifetime = "15m"
    @Option(help: ArgumentHelp("A new agent wipes a key after this long unused (default 15m).", valueName: "duration")) var idle = "15m"

    package func run() throws {
        let seconds = try DurationOption.seconds(lifetime, option: "--for")
        _ = try DurationOption.seconds(idle, option: "--idle")
        let store = try options.vault()
        let unlocked = try store.open(try options.credential(useAgent: false))
        let key = AgentProtocol.HeldKey(master: unlocked.master, slotKind: unlocked.file.slots[unlocked.openedSlot].kind.rawValue,
                                        slotIndex: UInt8(unlocked.openedSlot))
        let path = AgentSocket.path(environment: Environment.current)
        let client = AgentClient(path: path)
        // The agent writes each handout of this key to the vault's audit log (an absolute path; none for stderr).
        var audit: String? = nil
        if case .file(let file) = NetworkOptions.auditTarget(store.directory) {
            if file.hasPrefix("/") {
                audit = file
            } else if let cwd = getcwd(nil, 0) {
                audit = String(cString: cwd) + "/" + file
                free(cwd)
            }
        }
        if try agentCall({ try client.add(vaultID: unlocked.file.vaultID, key: key, seconds: UInt32(seconds), auditLog: audit) }) {
            Console.err("vault: unlocked for \(lifetime) (agent at \(path))")
            return
        }
        // A new agent's --max-lifetime: the default 8 h, or longer when --for asks for more.
        try startAgent(idle: idle, lifetime: seconds > 8 * 3600 ? lifetime : "8h")
        for _ in 0..<100 {
            if try agentCall({ try client.add(vaultID: unlocked.file.vaultID, key: key, seconds: UInt32(seconds), auditLog: audit) }) {
                Console.err("vault: unlocked for \(lifetime) (agent started at \(path))")
                return
            }
            usleep(50_000)
        }
        throw VaultError("agent.start", "the agent did not start at \(path)")
    }

    func startAgent(idle: String, lifetime: String) throws {
        let exe = "/proc/self/exe"
        var target = [CChar](repeating: 0, count: 4096)
        let n = readlink(exe, &target, target.count - 1)
        let program = n > 0 ? String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
        let argv = [program, "agent", "--idle", idle, "--max-lifetime", lifetime]
        let env = Environment.current.filter { $0.key != "VAULT_PASSPHRASE_FILE" && $0.key != "VAULT_KEY_FILE" }
        let rc = Spawn.detached(argv, environment: env).errno
        guard rc == 0 else { throw VaultError("agent.start", "cannot start the agent: \(String(cString: strerror(rc)))", context: ["case": "spawn"]) }
    }
}

package struct LockCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(commandName: "lock", abstract: "Wipe every key the agent holds, at once (the agent exits).")

    package func run() throws {
        let path = AgentSocket.path(environment: Environment.current)
        if try agentCall({ try AgentClient(path: path).lock() }) {
            Console.err("vault: locked (the agent wiped its keys)")
        } else {
            Console.err("vault: no agent running at \(path); nothing to lock")
        }
    }
}

/// Agent errors as `vault: error:` lines.
func agentCall<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as AgentError {
        throw VaultError("agent", e.message)
    }
}

/// Lower-case hex of bytes (a vault id).
func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
}
