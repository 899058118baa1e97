import EntraEmulator
import Foundation
import Testing
import VaultTestSupport

/// The first five minutes of a user moving the MSAL tutorial daemon into vault, and where secrets and tokens may go.
@Suite("Migrating from MSAL, against the emulator", .timeLimit(.minutes(5)))
struct MigrationTests {
    static let graphScope = "https://graph.microsoft.com/.default"

    func setUp() throws -> (EmulatorHarness, EmulatorVault) {
        let emu = try EmulatorHarness.start(EmulatorConfig(users: 30))
        return (emu, try EmulatorVault(emulator: emu))
    }

    @Test("the tutorial's authority (https://HOST/TENANT, domain or GUID) works without --tenant, and is shown normalised")
    func tutorialAuthority() throws {
        let (emu, v) = try setUp()
        defer { emu.stop() }
        for (name, tenant) in [("by-domain", emu.info.tenantDomain), ("by-guid", emu.info.tenantID)] {
            let add = try v.run(["add-app", name, "--client-id", emu.app.clientID, "--authority", "\(emu.base)/\(tenant)/",
                                 "--allow-custom-endpoint", "--scope", Self.graphScope], stdin: emu.app.secret)
            #expect(add.status == 0, "\(add.stderr)")
            #expect(add.stdout.contains("tenant \(tenant)"))
            #expect(add.stderr.contains("vault: warning: '\(name)' uses a custom endpoint"))
            let token = try v.run(["token", name])
            #expect(token.status == 0, "no doubled tenant in the token URL: \(token.stderr)")
            let show = try v.run(["show", name])
            #expect(show.stdout.contains("authority:   \(emu.base)/\(tenant)  (custom endpoint)"), "\(show.stdout)")
            #expect(show.stdout.contains("cloud:       custom (global)"), "\(show.stdout)")
        }
        let list = try v.run(["list", "--json"])
        let apps = try #require(try JSONSerialization.jsonObject(with: list.stdoutData) as? [[String: Any]])
        #expect(apps.allSatisfy { $0["custom_endpoint"] as? Bool == true })
        #expect(try v.run(["list"]).stdout.contains("custom (global)"))
    }

    func writeConfig(_ v: EmulatorVault, _ emu: EmulatorHarness, secretJSON: String, key: String = "secret") -> String {
        let text = """
        {
            "authority": "\(emu.base)/\(emu.info.tenantID)",
            "client_id": "\(emu.app.clientID)",
            "scope": [ "https://graph.microsoft.com/.default" ],
            "\(key)": "\(secretJSON)",
            "endpoint": "\(emu.base)/v1.0/users"
        }
        """
        return v.dir.write("parameters.json", Data(text.utf8), mode: 0o600)
    }

    @Test("--from-msal-config stores a samples-style file; the user is told it still holds the secret; --shred deletes it")
    func msalConfig() throws {
        let (emu, v) = try setUp()
        defer { emu.stop() }
        let secret = try #require(emu.app.secret)
        // The first character JSON-escaped, as some tools write it: decoded, not sent as "\u00xx".
        let escaped = String(format: "\\u%04x", secret.unicodeScalars.first!.value) + secret.dropFirst()
        let file = writeConfig(v, emu, secretJSON: escaped)
        let add = try v.run(["add-app", "daemon", "--from-msal-config", file, "--allow-custom-endpoint"])
        #expect(add.status == 0, "\(add.stderr)")
        #expect(add.stderr.contains("vault: warning: \(file) still holds the client secret in plain text"))
        #expect(add.stderr.contains("vault: hint: once `vault token daemon` works, delete it"))
        #expect(!add.stdout.contains(secret) && !add.stderr.contains(secret))
        #expect(FileManager.default.fileExists(atPath: file))
        #expect(try v.run(["token", "daemon"]).status == 0)
        let users = try v.run(["run", "users", "daemon", "--max", "3", "--output", "ndjson"])
        #expect(users.status == 0, "\(users.stderr)")
        #expect(users.stdout.split(separator: "\n").count == 3)

        let again = writeConfig(v, emu, secretJSON: secret, key: "client_secret")
        let shredded = try v.run(["add-app", "daemon", "--from-msal-config", again, "--allow-custom-endpoint", "--shred", "--replace"])
        #expect(shredded.status == 0, "\(shredded.stderr)")
        #expect(shredded.stdout.contains("Overwrote and deleted \(again)"))
        #expect(!FileManager.default.fileExists(atPath: again))
        #expect(try v.run(["token", "daemon"]).status == 0)
    }

    @Test("--output header prints one Authorization line for curl -H @-; the help no longer suggests $(vault token)")
    func headerOutput() throws {
        let (emu, v) = try setUp()
        defer { emu.stop() }
        let bare = try v.run(["token", "demo"]).stdout
        let header = try v.run(["token", "demo", "--output", "header"])
        #expect(header.status == 0)
        #expect(header.stdout == "Authorization: Bearer " + bare)
        let help = try v.run(["help", "token"])
        #expect(!help.stdout.contains("$(vault token"), "\(help.stdout)")
        #expect(help.stdout.contains("curl -H @-"))
    }

    @Test("-v logs method, URL, status and redacted headers only; -vv adds bodies with secrets redacted")
    func verboseLogging() throws {
        let (emu, v) = try setUp()
        defer { emu.stop() }
        let password = "Tr0ub4dor&3-new-user"
        let body = v.dir.write("user.json", Data(#"{"displayName":"Ada","passwordProfile" : {"password":"\#(password)","forceChangePasswordNextSignIn":true},"temporaryAccessPass":"TAP-123456"}"#.utf8))
        let secret = try #require(emu.app.secret)
        for flag in ["-v", "-vv"] {
            _ = try v.run(["cache", "clear"])
            let r = try v.run(["run", "post", "demo", "/users", "--body", body, flag])
            #expect(r.stderr.contains("→ POST \(emu.base)/v1.0/users"), "\(r.stderr)")
            #expect(r.stderr.contains("→ POST \(emu.base)/\(emu.info.tenantID)/oauth2/v2.0/token"))
            #expect(r.stderr.contains("Authorization: Bearer [REDACTED]"))
            #expect(!r.stderr.contains(password), "\(flag) logged the new user's password")
            #expect(!r.stderr.contains("TAP-123456"))
            #expect(!r.stderr.contains(secret), "\(flag) logged the client secret")
            #expect(!r.stderr.contains("eyJ"), "\(flag) logged a token")
            if flag == "-v" {
                #expect(!r.stderr.contains("displayName"), "-v must not log bodies")
                #expect(r.stderr.contains("bytes (-vv shows it, redacted)"))
            } else {
                #expect(r.stderr.contains(#""passwordProfile" : "[REDACTED]""#), "\(r.stderr)")
                #expect(r.stderr.contains(#""displayName":"Ada""#))
                #expect(r.stderr.contains("client_secret=[REDACTED]"))
                #expect(r.stderr.contains("grant_type=client_credentials"))
            }
        }
    }

    @Test("nothing reaches stdout before Graph's first page: a token failure leaves it empty in every format")
    func noHeaderBeforeFirstPage() throws {
        let (emu, v) = try setUp()
        defer { emu.stop() }
        try emu.fault("/oauth2/v2.0/token", "403", count: 100)
        for format in ["table", "csv", "json", "ndjson"] {
            let r = try v.run(["run", "users", "demo", "--output", format])
            #expect(r.status != 0)
            #expect(r.stdout.isEmpty, "\(format) printed \(r.stdout)")
            #expect(r.stderr.contains("vault: error:"))
        }
        let all = try v.run(["run", "get", "demo", "/users", "--all-pages"])
        #expect(all.status != 0)
        #expect(all.stdout.isEmpty)
    }

    @Test("a custom Graph host without a stored scope gets no token at all; an explicit --scope works")
    func customGraphNeedsScope() throws {
        let (emu, v) = try setUp()
        defer { emu.stop() }
        let add = try v.run(["add-app", "noscope", "--tenant", emu.info.tenantID, "--client-id", emu.app.clientID,
                             "--authority", emu.base, "--graph", emu.base, "--allow-custom-endpoint"], stdin: emu.app.secret)
        #expect(add.status == 0, "\(add.stderr)")
        let before = try emu.tokenRequests()
        for args in [["token", "noscope"], ["run", "users", "noscope"]] {
            let r = try v.run(args)
            #expect(r.status == 64)
            #expect(r.stderr.contains("uses the custom Graph host \(emu.base) and has no stored scope"), "\(r.stderr)")
        }
        #expect(try emu.tokenRequests() == before, "no token was requested")
        #expect(try v.run(["token", "noscope", "--scope", Self.graphScope]).status == 0)
    }
}
