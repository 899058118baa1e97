import ArgumentParser
import VaultCrypto
import VaultStore

struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Manage the vault's key slots.",
        subcommands: [KeyListCommand.self, KeyAddFileCommand.self, KeyRemoveCommand.self]
    )
}

struct KeyListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List key slots.")
    @OptionGroup var options: VaultOptions

    func run() throws {
        let vault = try options.vault().open(try options.credential())
        let rows = vault.file.slots.enumerated().map { i, s -> [String] in
            let kind = s.kind == .passphrase ? "passphrase" : "key-file"
            let params = s.kdf.map { "argon2id ops=\($0.opsLimit) mem=\($0.memLimit >> 20)MiB" } ?? "-"
            return [s.idHex, kind, params, i == vault.openedSlot ? "yes" : ""]
        }
        Console.out(Format.table(header: ["SLOT", "KIND", "KDF", "USED NOW"], rows: rows))
    }
}

struct KeyAddFileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-file",
        abstract: "Add a key-file slot (for unattended daemons).",
        discussion: "PATH is created with 32 random bytes and mode 0600 unless it already holds a key."
    )
    @OptionGroup var options: VaultOptions
    @Argument(help: "The key file to create or use.") var path: String

    func run() throws {
        let vault = try options.vault()
        let credential = try options.credential()
        _ = try vault.open(credential)
        let (key, created) = try KeyFiles.openOrCreate(path)
        do {
            let id = try vault.addSlot(unlockingWith: credential, newCredential: .keyFile(key))
            Console.out("Added key-file slot \(id)\(created ? "; wrote a new key file to \(path) (mode 0600)" : "").")
        } catch {
            if created { try? FileSystem.remove(path) }
            throw error
        }
    }
}

struct KeyRemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a key slot by id (see `vault key list`).")
    @OptionGroup var options: VaultOptions
    @Argument(help: "The slot id.") var slot: String

    func run() throws {
        let vault = try options.vault()
        try vault.removeSlot(unlockingWith: try options.credential(), slotID: slot)
        Console.out("Removed key slot \(slot).")
    }
}
