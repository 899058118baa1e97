import ArgumentParser
import FoundationEssentials
import EntraAuth
import VaultCLI
import VaultCore
import VaultErrors
import VaultTokens
import VaultRotation
import VaultCrypto

package struct CacheCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Inspect and manage the encrypted token cache.",
        subcommands: [CacheListCommand.self, CacheClearCommand.self, CacheExportCommand.self, CacheImportCommand.self]
    )
}

package struct CacheListCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(commandName: "list", abstract: "List cached tokens (never the tokens themselves).")
    @OptionGroup package var options: VaultOptions
    @Flag(help: "Print JSON.") package var json = false

    package func run() throws {
        let (cache, apps, warning) = try CacheService(vault: try options.vault(), unlock: try options.credential()).load()
        if let warning { Console.warn(warning) }
        let now = Int64(Date().timeIntervalSince1970)
        struct Row: Encodable { var app: String?; var client_id: String; var realm: String; var scope: String; var expires_on: Int64; var expired: Bool }
        let rows = cache.accessTokens.sorted { $0.expiresOn < $1.expiresOn }.map { t in
            Row(app: apps.first { $0.clientID.lowercased() == t.clientID.lowercased() }?.name, client_id: t.clientID, realm: t.realm,
                scope: t.target, expires_on: t.expiresOn, expired: t.expiresOn <= now)
        }
        if json { Console.out(try Format.json(rows)); return }
        if rows.isEmpty { Console.out("The token cache is empty."); return }
        Console.out(Format.table(header: ["APP", "CLIENT ID", "SCOPE", "EXPIRES", "LEFT"], rows: rows.map { r in
            let left = r.expires_on - now
            return [r.app ?? "-", r.client_id, r.scope, Format.date(Date(timeIntervalSince1970: TimeInterval(r.expires_on))),
                    left <= 0 ? "expired" : "\(left / 60) min"]
        }))
    }
}

package struct CacheClearCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(commandName: "clear", abstract: "Remove cached tokens of one app, or all.")
    @OptionGroup package var options: VaultOptions
    @Argument(help: "The app whose tokens go (default: every app).") var app: String?

    package func run() throws {
        let removed = try CacheService(vault: try options.vault(), unlock: try options.credential()).clear(app: app)
        Console.out("Removed \(removed) cached token\(removed == 1 ? "" : "s")\(app.map { " of '\($0)'" } ?? "").")
    }
}

package struct CacheExportCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the token cache as a plaintext MSAL cache file (0600), for MSAL clients.",
        discussion: "The file holds live access tokens in plaintext: delete it when done."
    )
    @OptionGroup package var options: VaultOptions
    @Option(help: "Format: msal (MSAL's unified cache JSON).") var format: String = "msal"
    @Flag(help: "Overwrite FILE if it exists.") package var force = false
    @Argument(help: "The file to write.") package var file: String

    package func run() throws {
        guard format == "msal" else { throw VaultError("usage", "unknown --format '\(format)'", context: ["case": "cache_format"]) }
        let count = try CacheService(vault: try options.vault(), unlock: try options.credential()).export(to: file, force: force)
        Console.warn("\(file) holds \(count) access token\(count == 1 ? "" : "s") in plaintext (mode 0600); delete it when done")
        Console.out("Exported \(count) token\(count == 1 ? "" : "s") to \(file).")
    }
}

package struct CacheImportCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Import unexpired tokens of stored apps from an MSAL cache file.")
    @OptionGroup package var options: VaultOptions
    @Argument(help: "An MSAL token-cache JSON file.") package var file: String

    package func run() throws {
        let (imported, skipped) = try CacheService(vault: try options.vault(), unlock: try options.credential()).importFile(file)
        Console.out("Imported \(imported) token\(imported == 1 ? "" : "s")\(skipped > 0 ? " (skipped \(skipped): expired or of apps not in the vault)" : "").")
    }
}
