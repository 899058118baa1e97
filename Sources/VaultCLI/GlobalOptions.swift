import ArgumentParser
import VaultAgent
import VaultCrypto
import VaultErrors
import VaultStore
import VaultFormat
import VaultRecords
#if canImport(Glibc)
import Glibc
#endif

/// Options every command that touches the vault accepts.
package struct VaultOptions: ParsableArguments {
    package init() {}
    @Option(name: .customLong("vault"), help: ArgumentHelp("Vault directory (default: $VAULT_DIR, else $XDG_DATA_HOME/vault, else ~/.local/share/vault).", valueName: "dir"))
    package var vaultPath: String?

    @Option(name: .customLong("key-file"), help: ArgumentHelp("Unlock with this 32-byte key file (0600).", valueName: "path"))
    package var keyFile: String?

    @Option(name: .customLong("passphrase-file"), help: ArgumentHelp("Unlock with the passphrase in this file (0600; one trailing newline ignored).", valueName: "path"))
    package var passphraseFile: String?

    /// The same settings as a plain value, free of ArgumentParser's types (TokenCommandLine builds one directly).
    package var access: VaultAccess { VaultAccess(vaultPath: vaultPath, keyFile: keyFile, passphraseFile: passphraseFile) }

    package var environment: [String: String] { Environment.current }

    package func directory() throws -> VaultDirectory { try access.directory() }

    package func vault() throws -> Vault { try access.vault() }

    /// The unlock source: see `VaultAccess.credential(useAgent:)`.
    package func credential(useAgent: Bool = true) throws -> Credential { try access.credential(useAgent: useAgent) }
}

/// Where the vault is and how to unlock it: the values of `VaultOptions` (`--vault`, `--key-file`,
/// `--passphrase-file`), read with the environment.
package struct VaultAccess {
    package var vaultPath: String?
    package var keyFile: String?
    package var passphraseFile: String?

    package init(vaultPath: String? = nil, keyFile: String? = nil, passphraseFile: String? = nil) {
        self.vaultPath = vaultPath
        self.keyFile = keyFile
        self.passphraseFile = passphraseFile
    }

    package var environment: [String: String] { Environment.current }

    package func directory() throws -> VaultDirectory {
        try VaultDirectory.resolve(flag: vaultPath, environment: environment)
    }

    package func vault() throws -> Vault { Vault(directory: try directory()) }

    /// The unlock source, in the documented order: --key-file, VAULT_KEY_FILE, --passphrase-file,
    /// VAULT_PASSPHRASE_FILE, systemd credentials (vault-passphrase, vault-key), then the terminal prompt.
    package func credential(useAgent: Bool = true) throws -> Credential {
        let env = environment
        if let keyFile { return .keyFile(try KeyFiles.read(keyFile)) }
        if let path = env["VAULT_KEY_FILE"], !path.isEmpty { return .keyFile(try KeyFiles.read(path)) }
        if let passphraseFile { return .passphrase(try KeyFiles.readPassphrase(passphraseFile)) }
        if let path = env["VAULT_PASSPHRASE_FILE"], !path.isEmpty { return .passphrase(try KeyFiles.readPassphrase(path)) }
        if let dir = env["CREDENTIALS_DIRECTORY"], !dir.isEmpty {
            // systemd credentials are 0400 files in a private directory that systemd manages.
            if FileSystem.exists(dir + "/vault-passphrase") {
                return .passphrase(try KeyFiles.readPassphrase(dir + "/vault-passphrase", checkMode: false))
            }
            if FileSystem.exists(dir + "/vault-key") { return .keyFile(try KeyFiles.read(dir + "/vault-key", checkMode: false)) }
        }
        // The unlock-once agent (`vault unlock`), keyed by the vault's id; none running means the prompt as before.
        if useAgent, let id = try? directory().vaultID(),
           let held = AgentClient(path: AgentSocket.path(environment: env)).key(vaultID: id),
           let kind = KeySlot.Kind(rawValue: held.slotKind) {
            return .unlockedKey(master: held.master, kind: kind, slot: Int(held.slotIndex))
        }
        do {
            return .passphrase(try Terminal.readHidden(prompt: "Vault passphrase: "))
        } catch let e as VaultError where e.code == "terminal.none" {
            throw VaultError("unlock.no_source", "no way to unlock the vault: no terminal and no key or passphrase source")
        }
    }
}

/// Credentials for the *other* key slots, so a slot change can replace the master key (`vault rekey`, and
/// `key remove` / `passwd` by default).
package struct SlotCredentialOptions: ParsableArguments {
    package init() {}
    @Option(name: .customLong("with-key-file"), help: ArgumentHelp("The key file of another slot (repeatable), so the master key can be replaced.", valueName: "path"))
    package var keyFiles: [String] = []

    @Option(name: .customLong("with-passphrase-file"), help: ArgumentHelp("The passphrase file of another slot (repeatable).", valueName: "path"))
    package var passphraseFiles: [String] = []

    /// These files, plus every unlock source that is configured (flags, environment, systemd credentials).
    package func gather(_ options: VaultOptions) throws -> [Credential] {
        var out: [Credential] = []
        let env = options.environment
        var keyPaths = keyFiles
        var passPaths = passphraseFiles
        if let k = options.keyFile { keyPaths.append(k) }
        if let k = env["VAULT_KEY_FILE"], !k.isEmpty { keyPaths.append(k) }
        if let p = options.passphraseFile { passPaths.append(p) }
        if let p = env["VAULT_PASSPHRASE_FILE"], !p.isEmpty { passPaths.append(p) }
        for path in Set(keyPaths).sorted() { out.append(.keyFile(try KeyFiles.read(path))) }
        for path in Set(passPaths).sorted() { out.append(.passphrase(try KeyFiles.readPassphrase(path))) }
        if let dir = env["CREDENTIALS_DIRECTORY"], !dir.isEmpty {
            if FileSystem.exists(dir + "/vault-passphrase") { out.append(.passphrase(try KeyFiles.readPassphrase(dir + "/vault-passphrase", checkMode: false))) }
            if FileSystem.exists(dir + "/vault-key") { out.append(.keyFile(try KeyFiles.read(dir + "/vault-key", checkMode: false))) }
        }
        return out
    }
}

/// The process environment as a dictionary (read once).
package enum Environment {
    package static let current: [String: String] = {
        var out: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { out[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return out
    }()
}

/// Key files and passphrase files.
package enum KeyFiles {
    package static let keyBytes = 32

    /// Reads a key file: exactly 32 bytes, a regular file (no symbolic link) owned by the caller or root, not
    /// writable by group or others and, unless `checkMode` is false (systemd credentials, whose directory systemd keeps
    /// private and may grant through an ACL), not readable by them either.
    package static func read(_ path: String, checkMode: Bool = true) throws -> SecretBytes {
        let key = try FileSystem.readVerified(path, rule: .init(what: "key file", privateRead: checkMode), limit: 1024)
        guard key.count == keyBytes else {
            throw VaultError("keyfile.size", "\(path) is not a vault key file (\(key.count) bytes, expected \(keyBytes))")
        }
        return key
    }

    /// Reads a passphrase file, dropping one trailing "\n" or "\r\n".
    package static func readPassphrase(_ path: String, checkMode: Bool = true, what: String = "passphrase file") throws -> SecretBytes {
        let raw = try FileSystem.readVerified(path, rule: .init(what: what, privateRead: checkMode), limit: 1024)
        var length = raw.count
        raw.withUnsafeBytes { b in
            if length > 0, b[length - 1] == 0x0a { length -= 1 }
            if length > 0, b[length - 1] == 0x0d { length -= 1 }
        }
        guard length > 0 else {
            throw VaultError("passphrase.empty", "the passphrase file \(path) is empty")
        }
        return raw.slice(0..<length)
    }

    /// Creates a new key file of 32 random bytes with mode 0600; never overwrites.
    package static func create(_ path: String) throws -> SecretBytes {
        let key = SecretBytes.random(count: keyBytes)
        try key.withUnsafeBytes { try FileSystem.createExclusive(path, bytes: $0) }
        return key
    }

    /// An existing key file, or a new one when `path` does not exist yet.
    package static func openOrCreate(_ path: String) throws -> (key: SecretBytes, created: Bool) {
        if FileSystem.exists(path) { return (try read(path), false) }
        return (try create(path), true)
    }
}
