import ArgumentParser
import VaultCLI
import VaultCore
import VaultErrors
import VaultTokens
import VaultRotation
import VaultCrypto
import VaultStore
import VaultFormat
import VaultRecords

package struct RemoveCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a stored app and its credentials.")

    @OptionGroup package var options: VaultOptions
    @Argument(help: "The app's name.") package var name: String
    @Flag(name: [.long, .customShort("y")], help: "Do not ask for confirmation.") var yes = false

    package func run() throws {
        let vault = try options.vault()
        let credential = try options.credential()
        // Check the app exists before asking anything.
        guard try vault.open(credential).contents.app(named: name) != nil else { throw AppLookup.missing(name) }
        if !yes {
            guard let answer = Terminal.confirm("Remove app '\(name)' and its client secret from the vault?") else {
                throw VaultError("confirm.none", "no terminal to confirm the removal")
            }
            guard answer else { Console.out("Nothing removed."); return }
        }
        let journal = try RemoveApp(vault: vault).run(name, unlock: credential)
        Console.out("Removed app '\(name)'.")
        if let c = journal, c.kind == .certificate {
            Console.out("Also dropped its pending certificate rotation (step \(c.step.rawValue)).")
            if c.step != .committed {
                Console.warn("the app registration may still hold the certificate with thumbprint \(c.newThumbprint ?? "?") that the rotation added: remove it in the portal")
            }
        } else if let j = journal {
            Console.out("Also dropped its pending rotation (journal \(j.shortID), step \(j.step.rawValue)).")
            if j.step != .committed, j.step != .adding || j.newKeyID != nil {
                Console.warn("the app registration may still hold password \(j.newKeyID ?? j.displayName) that the rotation added: remove it in the portal or with Graph")
            } else if j.step == .adding {
                Console.warn("the app registration may still hold a password named '\(j.displayName)' that the rotation added")
            }
        }
    }
}
