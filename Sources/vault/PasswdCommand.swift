import ArgumentParser
import VaultCrypto
import VaultStore

struct PasswdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passwd",
        abstract: "Change the vault passphrase (rewraps the master key only).",
        discussion: "Unlock as usual; the new passphrase is asked twice on the terminal, or read from --new-passphrase-file."
    )

    @OptionGroup var options: VaultOptions

    @Option(name: .customLong("new-passphrase-file"), help: ArgumentHelp("Read the new passphrase from this file (0600).", valueName: "path"))
    var newPassphraseFile: String?

    func run() throws {
        let vault = try options.vault()
        let credential = try options.credential()
        _ = try vault.open(credential) // fail on a wrong passphrase before asking for a new one
        let newPassphrase = try Prompts.newPassphrase(file: newPassphraseFile)
        try vault.changePassphrase(unlockingWith: credential, to: newPassphrase)
        Console.out("Passphrase changed.")
    }
}
