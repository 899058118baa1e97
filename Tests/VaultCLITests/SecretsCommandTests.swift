import Foundation
import Testing
import VaultTestSupport

@Suite("vault secrets commands, end to end", .timeLimit(.minutes(5)))
struct SecretsCommandTests {
    @Test("init, add-app from stdin, list, show: the secret never appears in files, arguments or output")
    func addAndList() throws {
        let v = try CLIVault()
        let add = try v.addApp("graph-reader")
        #expect(add.status == 0, "\(add.stderr)")
        #expect(add.stdout.contains("Stored app 'graph-reader'"))
        let list = try v.run(["list"])
        #expect(list.status == 0)
        #expect(list.stdout.contains("graph-reader"))
        #expect(list.stdout.contains("Xy8…"))
        let show = try v.run(["show", "graph-reader", "--json"])
        let json = try JSONSerialization.jsonObject(with: show.stdoutData) as? [String: Any]
        #expect(json?["client_id"] as? String == "22222222-2222-2222-2222-222222222222")
        #expect(json?["secret_hint"] as? String == "Xy8")
        for output in [add.stdout, add.stderr, list.stdout, list.stderr, show.stdout, show.stderr] {
            #expect(!output.contains("cli-test-secret"))
        }
        for (name, bytes) in v.snapshot() {
            #expect(bytes.range(of: Data("cli-test-secret".utf8)) == nil, "secret found in \(name)")
        }
        #expect(FileManager.default.fileExists(atPath: v.vaultPath + "/vault.db"))
    }

    @Test("the secret is not in the process's command line while it runs")
    func notInArgv() throws {
        let v = try CLIVault()
        // Start add-app with stdin held open so the process is alive while /proc/PID/cmdline is read.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: VaultRunner.vaultPath)
        p.arguments = ["add-app", "slow", "--tenant", "contoso.onmicrosoft.com", "--client-id", "22222222-2222-2222-2222-222222222222",
                       "--vault", v.vaultPath, "--key-file", v.keyFile]
        let input = Pipe()
        p.standardInput = input
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        try input.fileHandleForWriting.write(contentsOf: Data(CLIVault.secret.utf8))
        // /proc files report size 0: read them to EOF, and wait (bounded) until the child has exec'd.
        func procFile(_ name: String) -> Data {
            FileHandle(forReadingAtPath: "/proc/\(p.processIdentifier)/\(name)")?.readDataToEndOfFile() ?? Data()
        }
        var cmdline = procFile("cmdline")
        let deadline = Date().addingTimeInterval(10)
        while cmdline.range(of: Data("add-app".utf8)) == nil, Date() < deadline {
            usleep(10_000)
            cmdline = procFile("cmdline")
        }
        let environ = procFile("environ")
        try input.fileHandleForWriting.close()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(String(decoding: cmdline, as: UTF8.self).contains("add-app"))
        #expect(cmdline.range(of: Data("cli-test-secret".utf8)) == nil)
        #expect(environ.range(of: Data("cli-test-secret".utf8)) == nil)
        #expect(try v.appNames() == ["slow"])
    }

    @Test("an existing name is refused unless --replace")
    func replace() throws {
        let v = try CLIVault()
        #expect(try v.addApp("a").status == 0)
        let before = v.snapshot()
        let again = try v.addApp("a", secret: "Other8Q~secret")
        #expect(again.status == 64)
        #expect(again.stderr.contains("vault: error: an app named 'a' is already stored"))
        #expect(again.stderr.contains("vault: hint: pass --replace"))
        #expect(v.snapshot() == before)
        let replaced = try v.addApp("a", secret: "Oth8Q~replacement", extra: ["--replace"])
        #expect(replaced.status == 0)
        let show = try v.run(["show", "a"])
        #expect(show.stdout.contains("Oth…"))
    }

    @Test("remove asks, or takes --yes; without a terminal it refuses instead of hanging")
    func remove() throws {
        let v = try CLIVault()
        #expect(try v.addApp("a").status == 0)
        let before = v.snapshot()
        let noTTY = try v.run(["remove", "a"])
        #expect(noTTY.status == 64)
        #expect(noTTY.stderr.contains("vault: hint: pass --yes"))
        #expect(v.snapshot() == before)
        #expect(try v.run(["remove", "a", "--yes"]).status == 0)
        #expect(try v.appNames() == [])
    }

    @Test("passphrase vaults: unlock by --passphrase-file, VAULT_PASSPHRASE_FILE and a systemd credential; passwd")
    func passphraseSources() throws {
        let v = try CLIVault(passphrase: "first passphrase")
        let pass = v.dir.file("pass")
        #expect(try v.run(["list", "--passphrase-file", pass]).status == 0)
        #expect(try v.run(["list"], env: ["VAULT_PASSPHRASE_FILE": pass]).status == 0)
        let creds = v.dir.file("creds")
        try FileManager.default.createDirectory(atPath: creds, withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: pass, toPath: creds + "/vault-passphrase")
        // systemd hands credentials over as 0400 files owned by the service user; with an ACL the group bits show.
        for mode in [0o400, 0o440] as [mode_t] {
            chmod(creds + "/vault-passphrase", mode)
            let r = try v.run(["list"], env: ["CREDENTIALS_DIRECTORY": creds])
            #expect(r.status == 0, "mode \(String(mode, radix: 8)): \(r.stderr)")
        }
        // The file checks still apply there: a symbolic link is refused.
        try FileManager.default.removeItem(atPath: creds + "/vault-passphrase")
        try FileManager.default.createSymbolicLink(atPath: creds + "/vault-passphrase", withDestinationPath: pass)
        let linked = try v.run(["list"], env: ["CREDENTIALS_DIRECTORY": creds])
        #expect(linked.status == 77)
        #expect(linked.stderr.contains("is a symbolic link"), "\(linked.stderr)")

        let newPass = v.dir.write("new", Data("second passphrase".utf8))
        let passwd = try v.run(["passwd", "--passphrase-file", pass, "--new-passphrase-file", newPass])
        #expect(passwd.status == 0, "\(passwd.stderr)")
        let old = try v.run(["list", "--passphrase-file", pass])
        #expect(old.status == 77)
        #expect(old.stderr.contains("vault: error: the passphrase does not unlock this vault"))
        #expect(try v.run(["list", "--passphrase-file", newPass]).status == 0)
    }

    @Test("key add-file, key list, key remove")
    func keySlots() throws {
        let v = try CLIVault(passphrase: "first passphrase")
        let pass = v.dir.file("pass")
        let key2 = v.dir.file("daemon.key")
        let add = try v.run(["key", "add-file", key2, "--passphrase-file", pass])
        #expect(add.status == 0, "\(add.stderr)")
        #expect((try FileManager.default.attributesOfItem(atPath: key2)[.posixPermissions] as? Int) == 0o600)
        #expect(try v.run(["list", "--key-file", key2]).status == 0)
        let list = try v.run(["key", "list", "--key-file", key2])
        let slotLines = list.stdout.split(separator: "\n").dropFirst()
        #expect(slotLines.count == 2)
        let passSlot = try #require(slotLines.first { $0.contains("passphrase") }).split(separator: " ").first.map(String.init)!
        #expect(try v.run(["key", "remove", passSlot, "--key-file", key2]).status == 0)
        #expect(try v.run(["list", "--passphrase-file", pass]).status == 77)
    }

    @Test("eight processes adding different apps at once: all eight are stored")
    func concurrentWriters() throws {
        let v = try CLIVault()
        let processes = try (0..<8).map { i in
            try VaultRunner.start(["add-app", "app\(i)", "--tenant", "contoso.onmicrosoft.com",
                                   "--client-id", "22222222-2222-2222-2222-222222222222", "--vault", v.vaultPath, "--key-file", v.keyFile],
                                  stdin: Data(CLIVault.secret.utf8))
        }
        for p in processes { p.waitUntilExit(); #expect(p.terminationStatus == 0) }
        #expect(Set(try v.appNames()) == Set((0..<8).map { "app\($0)" }))
    }

    @Test("SIGKILL at random moments while writing: the vault always opens with the old or the new content")
    func killLoop() throws {
        let iterations = Int(ProcessInfo.processInfo.environment["VAULT_KILL_LOOP"] ?? "") ?? 50
        let v = try CLIVault()
        var expected: Set<String> = []
        var generator = SystemRandomNumberGenerator()
        for i in 0..<iterations {
            let p = try VaultRunner.start(["add-app", "k\(i)", "--tenant", "contoso.onmicrosoft.com",
                                           "--client-id", "22222222-2222-2222-2222-222222222222", "--vault", v.vaultPath,
                                           "--key-file", v.keyFile], stdin: Data(CLIVault.secret.utf8))
            usleep(UInt32.random(in: 0...40_000, using: &generator))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let names = Set(try v.appNames())
            // Old content, or old content plus the new app: nothing else.
            #expect(names == expected || names == expected.union(["k\(i)"]), "iteration \(i): \(names.sorted())")
            if names.contains("k\(i)") { expected.insert("k\(i)") }
        }
        #expect(iterations >= 50)
        #expect(FileManager.default.fileExists(atPath: v.vaultPath + "/vault.db"))
    }
}
