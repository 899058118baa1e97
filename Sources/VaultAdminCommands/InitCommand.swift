import ArgumentParser
import VaultCLI
import VaultCrypto
import VaultErrors
import VaultStore
import VaultFormat
import VaultRecords

package struct InitCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a new, empty vault.",
        discussion: """
        Asks twice for a new passphrase on the terminal. With --key-file PATH the vault gets a key-file slot \
        instead (PATH is created with 32 random bytes, mode 0600, unless it already holds a key); add \
        --with-passphrase to get both.
        """
    )

    @OptionGroup package var options: VaultOptions

    @Flag(name: .customLong("with-passphrase"), help: "With --key-file, also add a passphrase slot.")
    package var withPassphrase = false

    @Option(name: .customLong("kdf-ops"), help: ArgumentHelp("Argon2id passes for the passphrase slot (default 3, at most 16).", valueName: "n"))
    package var kdfOps: UInt64 = KDFParameters.default.opsLimit

    @Option(name: .customLong("kdf-memory"), help: ArgumentHelp("Argon2id memory in MiB for the passphrase slot (default 256, at most 1024).", valueName: "MiB"))
    package var kdfMemoryMiB: UInt64 = KDFParameters.default.memLimit >> 20

    package func run() throws {
        // Checked before the shift: a huge MiB count must not wrap around to a small, valid-looking one.
        guard (1...KDFParameters.maxOpsLimit).contains(kdfOps) else {
            throw VaultError("usage", "--kdf-ops must be between 1 and \(KDFParameters.maxOpsLimit)")
        }
        guard (1...(KDFParameters.maxMemLimit >> 20)).contains(kdfMemoryMiB) else {
            throw VaultError("usage", "--kdf-memory must be between 1 and \(KDFParameters.maxMemLimit >> 20) MiB")
        }
        let kdf = KDFParameters(opsLimit: kdfOps, memLimit: kdfMemoryMiB << 20)
        try kdf.validate()
        let vault = try options.vault()
        if vault.directory.exists {
            throw VaultError("vault.exists", "a vault already exists at \(vault.directory.path)")
        }
        var credentials: [Credential] = []
        var createdKeyFile: String?
        if options.keyFile == nil || withPassphrase {
            credentials.append(.passphrase(try Prompts.newPassphrase(file: options.passphraseFile)))
        }
        if let path = options.keyFile {
            let (key, created) = try KeyFiles.openOrCreate(path)
            if created { createdKeyFile = path }
            credentials.append(.keyFile(key))
        }
        do {
            try vault.create(credentials: credentials, kdf: kdf)
        } catch {
            if let createdKeyFile { try? FileSystem.remove(createdKeyFile) }
            throw error
        }
        Console.out("Created vault at \(vault.directory.path)")
        if let createdKeyFile { Console.out("Wrote a new key file to \(createdKeyFile) (mode 0600): keep it as safe as the vault's contents.") }
    }
}
