import Foundation
import Testing
import VaultTestSupport

/// One bad input: the arguments after `vault`, stdin, what the error must say and the exit code.
struct BadInput: Sendable, CustomTestStringConvertible {
    var label: String
    var args: [String]
    var stdin: String? = CLIVault.secret
    var message: String
    var status: Int32
    var unlock = true
    var env: [String: String] = [:]
    var testDescription: String { label }
}

let guid = "22222222-2222-2222-2222-222222222222"

let badInputs: [BadInput] = [
    BadInput(label: "tenant not a GUID or domain", args: ["add-app", "a", "--tenant", "not a tenant", "--client-id", guid],
             message: "invalid tenant 'not a tenant'", status: 64),
    BadInput(label: "tenant 'common'", args: ["add-app", "a", "--tenant", "common", "--client-id", guid],
             message: "'common' cannot be used for app-only tokens", status: 64),
    BadInput(label: "client id not a GUID", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", "1234"],
             message: "invalid client id '1234'", status: 64),
    BadInput(label: "bad app name", args: ["add-app", "-x", "--tenant", "contoso.com", "--client-id", guid],
             message: "vault: error:", status: 64),
    BadInput(label: "name with a slash", args: ["add-app", "a/b", "--tenant", "contoso.com", "--client-id", guid],
             message: "invalid app name 'a/b'", status: 64),
    BadInput(label: "unknown cloud", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", guid, "--cloud", "mars"],
             message: "vault: error:", status: 64),
    BadInput(label: "authority over plain http", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", guid, "--authority", "http://example.com"],
             message: "invalid --authority 'http://example.com'", status: 64),
    BadInput(label: "empty secret on stdin", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", guid], stdin: "",
             message: "no client secret was given", status: 64),
    BadInput(label: "secret with a space", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", guid], stdin: "has space",
             message: "contains spaces, control or non-ASCII characters", status: 64),
    BadInput(label: "the redaction marker as a secret", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", guid], stdin: "[REDACTED]\n",
             message: "the marker vault prints in place of a secret", status: 64),
    BadInput(label: "secret too long", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", guid],
             stdin: String(repeating: "a", count: 300), message: "longer than 256 bytes", status: 64),
    BadInput(label: "unknown app for show", args: ["show", "nope"], message: "no app named 'nope'", status: 64),
    BadInput(label: "unknown app for remove", args: ["remove", "nope", "--yes"], message: "no app named 'nope'", status: 64),
    BadInput(label: "unknown key slot", args: ["key", "remove", "0011223344556677"], message: "no key slot 0011223344556677", status: 64),
    BadInput(label: "removing the only slot", args: ["key", "remove", "SLOT"], message: "refusing to remove the only key slot", status: 64),
    BadInput(label: "init over an existing vault", args: ["init"], message: "a vault already exists", status: 64),
    BadInput(label: "no unlock source and no terminal", args: ["list"], message: "no way to unlock the vault", status: 64, unlock: false),
    BadInput(label: "wrong key file", args: ["list", "--key-file", "WRONGKEY"], message: "the key file does not unlock this vault", status: 77, unlock: false),
    BadInput(label: "key file of the wrong size", args: ["list", "--key-file", "SHORTKEY"], message: "is not a vault key file (5 bytes, expected 32)", status: 65, unlock: false),
    BadInput(label: "key file readable by others", args: ["list", "--key-file", "OPENKEY"], message: "is readable by group or others", status: 77, unlock: false),
    BadInput(label: "missing key file", args: ["list", "--key-file", "/nonexistent/key"], message: "does not exist", status: 66, unlock: false),
    BadInput(label: "passphrase for a key-file-only vault", args: ["list", "--passphrase-file", "PASSFILE"], message: "this vault has no passphrase slot", status: 77, unlock: false),
    BadInput(label: "passwd without a terminal", args: ["passwd"], message: "no terminal", status: 64),
    BadInput(label: "unknown command", args: ["frobnicate"], message: "vault: error:", status: 64),

    // Endpoints are parsed, not prefix-matched (issue: the local attack surface).
    BadInput(label: "authority with userinfo", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", guid,
                                                      "--authority", "https://login.microsoftonline.com@evil.example/"],
             message: "has a user-info part", status: 64),
    BadInput(label: "graph with userinfo, even with --allow-custom-endpoint", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", guid,
                                                      "--graph", "https://graph.microsoft.com:443@evil.example", "--allow-custom-endpoint"],
             message: "has a user-info part", status: 64),
    BadInput(label: "authority with a query", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", guid,
                                                     "--authority", "https://login.microsoftonline.com/?x=1"], message: "has a query", status: 64),
    BadInput(label: "authority with a fragment", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", guid,
                                                        "--authority", "https://login.microsoftonline.com/#x"], message: "has a fragment", status: 64),
    BadInput(label: "plain http to a name that merely starts like loopback", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", guid,
                                                        "--authority", "http://127.0.0.1.evil.example", "--allow-custom-endpoint"],
             message: "plain http is allowed only to a loopback host", status: 64),
    BadInput(label: "non-ASCII host", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", guid,
                                             "--authority", "https://lógin.microsoftonline.com"], message: "non-ASCII", status: 64),
    BadInput(label: "unknown authority host without --allow-custom-endpoint", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", guid,
                                             "--authority", "https://login.example.com"],
             message: "--authority https://login.example.com is not a Microsoft cloud endpoint vault knows", status: 64),
    BadInput(label: "known host on another port is custom", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", guid,
                                             "--graph", "https://graph.microsoft.com:8443"],
             message: "--graph https://graph.microsoft.com:8443 is not a Microsoft cloud endpoint vault knows", status: 64),
    BadInput(label: "authority path beyond the tenant", args: ["add-app", "a", "--client-id", guid,
                                             "--authority", "https://login.microsoftonline.com/contoso.com/oauth2"],
             message: "its path must be the tenant alone", status: 64),
    BadInput(label: "--tenant and the authority's tenant differ", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", guid,
                                             "--authority", "https://login.microsoftonline.com/fabrikam.com"], message: "differ", status: 64),
    BadInput(label: "authority naming 'common'", args: ["add-app", "a", "--client-id", guid,
                                             "--authority", "https://login.microsoftonline.com/common"],
             message: "'common' cannot be used for app-only tokens", status: 64),
    BadInput(label: "no tenant anywhere", args: ["add-app", "a", "--client-id", guid], message: "no tenant given", status: 64),
    BadInput(label: "Graph of another cloud", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", guid, "--cloud", "global",
                                                     "--graph", "https://graph.microsoft.us"], message: "is the Graph of the usgov cloud", status: 64),
    BadInput(label: "US authority with the global Graph", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", guid,
                                                     "--authority", "https://login.microsoftonline.us", "--graph", "https://graph.microsoft.com"],
             message: "signs in to the usgov cloud, not to global", status: 64),
    BadInput(label: "client id with fullwidth digits", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", "２２222222-2222-2222-2222-222222222222"],
             message: "invalid client id", status: 64),
    BadInput(label: "scope without /.default", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", guid, "--scope", "https://graph.microsoft.com"],
             message: "invalid scope", status: 64),

    // Headers cannot smuggle another header.
    BadInput(label: "--header with CR LF", args: ["run", "get", "existing", "/me", "--header", "X-A: b\r\nAuthorization: Bearer stolen"],
             message: "its value holds a line break", status: 64),
    BadInput(label: "--header with NUL", args: ["run", "get", "existing", "/me", "--header", "X-A: b\u{01}c"],
             message: "its value holds a line break, NUL or another control character", status: 64),
    BadInput(label: "--header name not a token", args: ["run", "get", "existing", "/me", "--header", "X A: b"],
             message: "its name is not an HTTP token", status: 64),
    BadInput(label: "--header Host", args: ["run", "get", "existing", "/me", "--header", "Host: evil.example"],
             message: "--header cannot set Host", status: 64),

    // MSAL parameters files.
    BadInput(label: "--shred without a config file", args: ["add-app", "a", "--tenant", "contoso.com", "--client-id", guid, "--shred"],
             message: "--shred works only with --from-msal-config", status: 64),
    BadInput(label: "MSAL config that is not JSON", args: ["add-app", "a", "--from-msal-config", "BADCONFIG"],
             message: "is not a usable MSAL parameters file: it is not valid JSON", status: 65),
    BadInput(label: "MSAL config without a secret", args: ["add-app", "a", "--from-msal-config", "NOSECRETCONFIG"],
             message: "it has no \"secret\"", status: 65),
    BadInput(label: "MSAL config contradicting --client-id", args: ["add-app", "a", "--from-msal-config", "CONFIG", "--client-id", "33333333-3333-3333-3333-333333333333"],
             message: "--client-id '33333333-3333-3333-3333-333333333333' differs from the file's", status: 64),
    BadInput(label: "MSAL config with two scopes", args: ["add-app", "a", "--from-msal-config", "TWOSCOPECONFIG"],
             message: "\"scope\" must hold exactly one scope", status: 65),

    // Key, passphrase and CA files: checked on the open descriptor.
    BadInput(label: "key file that is a symbolic link", args: ["list", "--key-file", "LINKKEY"], message: "is a symbolic link", status: 77, unlock: false),
    BadInput(label: "key file that is a FIFO (never hangs)", args: ["list", "--key-file", "FIFOKEY"], message: "is not a regular file", status: 77, unlock: false),
    BadInput(label: "key file writable by the group", args: ["list", "--key-file", "GWKEY"], message: "is writable by group or others", status: 77, unlock: false),
    BadInput(label: "passphrase file readable by others", args: ["list", "--passphrase-file", "OPENPASS"], message: "passphrase file", status: 77, unlock: false),
    BadInput(label: "CA bundle that is a symbolic link", args: ["token", "existing", "--ca-bundle", "LINKCA"], message: "the CA bundle", status: 77),
    BadInput(label: "CA bundle writable by others", args: ["token", "existing", "--ca-bundle", "OPENCA"], message: "is writable by group or others", status: 77),

    // KDF options cannot wrap around.
    BadInput(label: "--kdf-memory that would wrap", args: ["init", "--kdf-memory", "17592186044417"], message: "--kdf-memory must be between 1 and 1024 MiB", status: 64),
    BadInput(label: "--kdf-ops above the cap", args: ["init", "--kdf-ops", "17"], message: "--kdf-ops must be between 1 and 16", status: 64),
]

@Suite("Bad inputs: a clear error, and the vault byte-for-byte unchanged", .timeLimit(.minutes(5)))
struct BadInputTests {
    @Test(arguments: badInputs)
    func badInput(_ input: BadInput) throws {
        let v = try CLIVault()
        #expect(try v.addApp("existing").status == 0)
        var args = input.args
        let slot = try v.run(["key", "list"]).stdout.split(separator: "\n").dropFirst().first?.split(separator: " ").first.map(String.init) ?? ""
        let wrong = v.dir.write("wrongkey", Data((0..<32).map { UInt8($0) }))
        let short = v.dir.write("shortkey", Data("short".utf8))
        let openKey = v.dir.write("openkey", Data(count: 32), mode: 0o644)
        let passfile = v.dir.write("passfile", Data("some passphrase".utf8))
        let openPass = v.dir.write("openpass", Data("some passphrase".utf8), mode: 0o644)
        let gwKey = v.dir.write("gwkey", Data(count: 32), mode: 0o620)
        let linkKey = v.dir.file("linkkey")
        try FileManager.default.createSymbolicLink(atPath: linkKey, withDestinationPath: v.keyFile)
        let fifoKey = v.dir.file("fifokey")
        mkfifo(fifoKey, 0o600)
        let ca = v.dir.write("ca.pem", Data("-----BEGIN CERTIFICATE-----\n".utf8), mode: 0o644)
        let linkCA = v.dir.file("linkca")
        try FileManager.default.createSymbolicLink(atPath: linkCA, withDestinationPath: ca)
        let openCA = v.dir.write("openca.pem", Data("-----BEGIN CERTIFICATE-----\n".utf8), mode: 0o666)
        chmod(openCA, 0o666)
        chmod(gwKey, 0o620)
        let config = #"{"authority": "https://login.microsoftonline.com/contoso.com", "client_id": "\#(guid)", "secret": "\#(CLIVault.secret)"}"#
        let files = [
            "BADCONFIG": v.dir.write("bad.json", Data("{\"authority\": ".utf8)),
            "NOSECRETCONFIG": v.dir.write("nosecret.json", Data(#"{"authority": "https://login.microsoftonline.com/contoso.com", "client_id": "\#(guid)"}"#.utf8)),
            "CONFIG": v.dir.write("config.json", Data(config.utf8)),
            "TWOSCOPECONFIG": v.dir.write("twoscope.json", Data(#"{"authority": "https://login.microsoftonline.com/contoso.com", "client_id": "\#(guid)", "secret": "abc", "scope": ["a/.default", "b/.default"]}"#.utf8)),
        ]
        args = args.map { a in
            switch a {
            case "SLOT": slot
            case "WRONGKEY": wrong
            case "SHORTKEY": short
            case "OPENKEY": openKey
            case "PASSFILE": passfile
            case "OPENPASS": openPass
            case "GWKEY": gwKey
            case "LINKKEY": linkKey
            case "FIFOKEY": fifoKey
            case "LINKCA": linkCA
            case "OPENCA": openCA
            default: files[a] ?? a
            }
        }
        let before = v.snapshot()
        let r = try v.run(args, stdin: input.stdin, unlock: input.unlock, env: input.env)
        #expect(r.status == input.status, "\(input.label): \(r.stderr)")
        #expect(r.stderr.contains(input.message), "\(input.label): \(r.stderr)")
        #expect(r.stderr.hasPrefix("vault: error: "), "\(r.stderr)")
        // Lock files are empty and any command may create them (docs/FORMAT.md §1); every other byte must be as it was.
        func data(_ snap: [String: Data]) -> [String: Data] { snap.filter { !($0.key.hasSuffix(".lock") && $0.value.isEmpty) } }
        #expect(data(v.snapshot()) == data(before), "\(input.label) changed the vault")
        #expect(!r.stderr.contains("cli-test-secret") && !r.stdout.contains("cli-test-secret"))
    }

    @Test("a vault directory open to others is refused with a chmod hint, and left as it is")
    func openDirectory() throws {
        let v = try CLIVault()
        chmod(v.vaultPath, 0o755)
        let before = v.snapshot()
        let r = try v.run(["add-app", "a", "--tenant", "contoso.com", "--client-id", guid], stdin: CLIVault.secret)
        #expect(r.status == 77)
        #expect(r.stderr.contains("vault: hint: chmod 700 \(v.vaultPath)"))
        #expect(v.snapshot() == before)
    }

    @Test("a damaged vault file is reported, not crashed on")
    func damaged() throws {
        let v = try CLIVault()
        let path = v.vaultPath + "/vault.db"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 1] ^= 1
        try bytes.write(to: URL(fileURLWithPath: path))
        let r = try v.run(["list"])
        #expect(r.status == 65)
        #expect(r.stderr.contains("vault: error: the vault file is damaged"))
    }
}
