import ArgumentParser
import VaultCLI
import VaultCore
import VaultTokens
import VaultRotation
import VaultCrypto
import VaultStore
import VaultFormat
import VaultRecords

package struct KeyCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Manage the vault's key slots.",
        subcommands: [KeyListCommand.self, KeyAddFileCommand.self, KeyRemoveCommand.self]
    )
}

package struct KeyListCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(commandName: "list", abstract: "List key slots.")
    @OptionGroup package var options: VaultOptions

    package func run() throws {
        let vault = try options.vault().open(try options.credential())
        let rows = vault.file.slots.enumerated().map { i, s -> [String] in
            let kind = s.kind == .passphrase ? "passphrase" : "key-file"
            let params = s.kdf.map { "argon2id ops=\($0.opsLimit) mem=\($0.memLimit >> 20)MiB" } ?? "-"
            return [s.idHex, kind, params, i == vault.openedSlot ? "yes" : ""]
        }
        Console.out(Format.table(header: ["SLOT", "KIND", "KDF", "USED NOW"], rows: rows))
    }
}

package struct KeyAddFileCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "add-file",
        abstract: "Add a key-file slot (for unattended daemons).",
        discussion: "PATH is created with 32 random bytes and mode 0600 unless it already holds a key."
    )
    @OptionGroup package var options: VaultOptions
    @Argument(help: "The key file to create or use.") package var path: String

    package func run() throws {
        let vault = try options.vault()
        let credential = try options.credential()
        _ = try vault.open(credential)
        let (key, created) = try KeyFiles.openOrCreate(path)
        do {
            let id = try SlotAudit.changes(vault, credential, [], options: options, command: "key add-file").addKeyFileSlot(key)
            Console.out("Added key-file slot \(id)\(created ? "; wrote a new key file to \(path) (mode 0600)" : "").")
        } catch {
            if created { try? FileSystem.remove(path) }
            throw error
        }
    }
}

package struct KeyRemoveCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a key slot by id (see `vault key list`) and replace the master key.",
        discussion: """
        Removing a slot alone would not revoke it: whoever kept its key file or passphrase and an old copy of vault.db \
        could still read every later vault.db. So vault also replaces the master key (rekey) when the credentials of \
        all remaining slots are at hand: the one you unlock with, --with-key-file / --with-passphrase-file, and any \
        configured source (VAULT_KEY_FILE, VAULT_PASSPHRASE_FILE, systemd credentials). Otherwise it only removes the \
        slot and says which credentials were missing; run `vault rekey` with them afterwards. The token cache is \
        emptied by a rekey.
        """
    )
    @OptionGroup package var options: VaultOptions
    @OptionGroup package var others: SlotCredentialOptions
    @Flag(name: .customLong("no-rekey"), help: "Only remove the slot; keep the master key (the removed credential is not revoked).")
    var noRekey = false
    @Argument(help: "The slot id.") var slot: String

    package func run() throws {
        let change = SlotAudit.changes(try options.vault(), try options.credential(), try others.gather(options), options: options, command: "key remove")
        let outcome = try change.removeSlot(slot, rekey: !noRekey)
        Console.out("Removed key slot \(slot).")
        RekeyReport.print(outcome, removed: "the removed key slot's credential")
    }
}

/// What a slot change did about the master key, in words.
/// A slot change wired to the vault's audit log, as the command that asked for it.
enum SlotAudit {
    package static func changes(_ vault: Vault, _ unlock: Credential, _ available: [Credential], options: VaultOptions, command: String) -> SlotChanges {
        let target = (try? options.directory()).map(NetworkOptions.auditTarget) ?? .standardError
        return SlotChanges(vault: vault, unlock: unlock, available: available, audit: AuditLog(target, maxBytes: NetworkOptions.auditMaxBytes(), warn: { Console.warn($0) }),
                           requester: AuditRequester(command: command))
    }
}

enum RekeyReport {
    static func print(_ outcome: RekeyOutcome, removed: String) {
        switch outcome {
        case .rekeyed:
            Console.out("Replaced the master key: \(removed) and any old copy of vault.db no longer open the vault. The token cache was emptied.")
        case .rewrapped(let missing) where missing.isEmpty:
            Console.warn("the master key was kept (--no-rekey): \(removed), together with an old copy of vault.db, still opens every later vault.db")
            Console.hint("run `vault rekey` to revoke it")
        case .rewrapped(let missing):
            Console.warn("the master key was kept, because the credential of key slot\(missing.count == 1 ? "" : "s") \(missing.joined(separator: ", ")) was not at hand: \(removed), together with an old copy of vault.db, still opens every later vault.db")
            Console.hint("run `vault rekey --with-key-file PATH` (or --with-passphrase-file) with every remaining slot's credential")
        }
    }
}

package struct KeyRekeyCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "rekey",
        abstract: "Replace the vault's master key, rewrapped for every key slot.",
        discussion: """
        Needs the credential of every key slot: the one you unlock with, --with-key-file / --with-passphrase-file, \
        configured sources (VAULT_KEY_FILE, VAULT_PASSPHRASE_FILE, systemd credentials), and on a terminal vault asks \
        for the passphrase of any passphrase slot still missing. The contents are resealed under the new key and the \
        token cache is emptied, atomically: an old credential plus an old copy of vault.db opens nothing written after.
        """
    )
    @OptionGroup var options: VaultOptions
    @OptionGroup var others: SlotCredentialOptions

    package func run() throws {
        let vault = try options.vault()
        let unlock = try options.credential()
        var available = try others.gather(options)
        let missing = try SlotChanges(vault: vault, unlock: unlock, available: available).slotsWithoutCredential()
        let kinds = Dictionary(uniqueKeysWithValues: try vault.open(unlock).file.slots.map { ($0.idHex, $0.kind) })
        for id in missing where kinds[id] == .passphrase {
            guard let typed = try? Terminal.readHidden(prompt: "Passphrase of key slot \(id): ") else { break }
            available.append(.passphrase(typed))
        }
        try SlotAudit.changes(vault, unlock, available, options: options, command: "rekey").rekey()
        Console.out("Replaced the master key; every key slot was rewrapped and the token cache emptied.")
    }
}
