import Foundation
import VaultTestSupport

/// A vault in a private temp directory, driven through the real `vault` executable.
final class CLIVault: @unchecked Sendable {
    let dir = TemporaryDirectory("vault-cli")
    var vaultPath: String { dir.file("vault") }
    var keyFile: String { dir.file("key") }
    static let secret = "Xy8Q~cli-test-secret-0123456789abcdefghij"

    /// `vault init --key-file` (fast, no Argon2id) unless `passphrase` is given.
    init(passphrase: String? = nil) throws {
        var args = ["init", "--vault", vaultPath]
        if let passphrase {
            let p = dir.write("pass", Data((passphrase + "\n").utf8))
            args += ["--passphrase-file", p, "--kdf-ops", "1", "--kdf-memory", "8"]
        } else {
            args += ["--key-file", keyFile]
        }
        let r = try VaultRunner.run(args)
        guard r.status == 0 else { throw CLIError(message: "init failed: \(r.stderr)") }
    }

    struct CLIError: Error { var message: String }

    func run(_ args: [String], stdin: String? = nil, unlock: Bool = true, env: [String: String] = [:]) throws -> RunResult {
        var full = args + ["--vault", vaultPath]
        if unlock, FileManager.default.fileExists(atPath: keyFile) { full += ["--key-file", keyFile] }
        return try VaultRunner.run(full, stdin: stdin.map { Data($0.utf8) }, environment: env)
    }

    func addApp(_ name: String, secret: String = CLIVault.secret, extra: [String] = []) throws -> RunResult {
        try run(["add-app", name, "--tenant", "contoso.onmicrosoft.com", "--client-id", "22222222-2222-2222-2222-222222222222"] + extra,
                stdin: secret)
    }

    func appNames() throws -> [String] {
        let r = try run(["list", "--json"])
        guard r.status == 0 else { throw CLIError(message: r.stderr) }
        let apps = try JSONSerialization.jsonObject(with: r.stdoutData) as? [[String: Any]] ?? []
        return apps.compactMap { $0["name"] as? String }
    }

    func snapshot() -> [String: Data] { dir.snapshot("vault") }
}
