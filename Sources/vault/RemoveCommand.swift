import ArgumentParser
import VaultCrypto
import VaultStore

struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a stored app and its secret.")

    @OptionGroup var options: VaultOptions
    @Argument(help: "The app's name.") var name: String
    @Flag(name: [.long, .customShort("y")], help: "Do not ask for confirmation.") var yes = false

    func run() throws {
        let vault = try options.vault()
        let credential = try options.credential()
        // Check the app exists before asking anything.
        guard try vault.open(credential).contents.app(named: name) != nil else { throw AppLookup.missing(name) }
        if !yes {
            guard let answer = Terminal.confirm("Remove app '\(name)' and its client secret from the vault?") else {
                throw VaultError("confirm.none", "no terminal to confirm the removal", hint: "pass --yes", exit: .usage)
            }
            guard answer else { Console.out("Nothing removed."); return }
        }
        try vault.update(credential) { v in
            guard v.contents.remove(kind: "app", name: name) else { throw AppLookup.missing(name) }
        }
        Console.out("Removed app '\(name)'.")
    }
}
