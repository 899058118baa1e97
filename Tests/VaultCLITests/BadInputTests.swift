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
        args = args.map { a in
            switch a {
            case "SLOT": slot
            case "WRONGKEY": wrong
            case "SHORTKEY": short
            case "OPENKEY": openKey
            case "PASSFILE": passfile
            default: a
            }
        }
        let before = v.snapshot()
        let r = try v.run(args, stdin: input.stdin, unlock: input.unlock, env: input.env)
        #expect(r.status == input.status, "\(input.label): \(r.stderr)")
        #expect(r.stderr.contains(input.message), "\(input.label): \(r.stderr)")
        #expect(r.stderr.hasPrefix("vault: error: "), "\(r.stderr)")
        #expect(v.snapshot() == before, "\(input.label) changed the vault")
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
