import ArgumentParser
import VaultCLI
import VaultCore
import VaultTokens
import VaultRotation
import VaultCrypto
import VaultStore
import VaultFormat
import VaultRecords

package struct PasswdCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "passwd",
        abstract: "Change the vault passphrase and replace the master key.",
        discussion: """
        Unlock as usual; the new passphrase is asked twice on the terminal, or read from --new-passphrase-file. The \
        master key is replaced too (so the old passphrase and an old copy of vault.db open nothing written after) when \
        the credentials of the vault's other slots are at hand (--with-key-file, --with-passphrase-file, configured \
        sources); otherwise only the passphrase slot is rewrapped and vault says which credentials were missing.
        """
    )

    @OptionGroup package var options: VaultOptions

    @OptionGroup package var others: SlotCredentialOptions

    @Flag(name: .customLong("no-rekey"), help: "Only rewrap; keep the master key (the old passphrase is not revoked).")
    package var noRekey = false

    @Option(name: .customLong("new-passphrase-file"), help: ArgumentHelp("Read the new passphrase from this file (0600).", valueName: "path"))
    var newPassphraseFile: String?

    package func run() throws {
        let vault = try options.vault()
        let credential = try options.credential()
        _ = try vault.open(credential) // fail on a wrong passphrase before asking for a new one
        let available = try others.gather(options)
        let newPassphrase = try Prompts.newPassphrase(file: newPassphraseFile)
        let outcome = try SlotAudit.changes(vault, credential, available, options: options, command: "passwd").changePassphrase(to: newPassphrase, rekey: !noRekey)
        Console.out("Passphrase changed.")
        RekeyReport.print(outcome, removed: "the old passphrase")
    }
}
