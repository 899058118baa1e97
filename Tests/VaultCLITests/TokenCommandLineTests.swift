import Foundation
import Testing
import VaultTestSupport

/// `vault token` read by hand (TokenCommandLine) against the same command line read by ArgumentParser
/// (`VAULT_TEST_FAST_PATH=off`, debug builds only): the same stdout, stderr and exit status, whichever path is taken,
/// and the hand reader takes exactly the command lines it claims.
@Suite("vault token: the hand-read command line behaves as ArgumentParser's", .timeLimit(.minutes(5)))
struct TokenCommandLineTests {
    /// One command line: the arguments after `vault` (`$VAULT`, `$KEY`, `$CA` stand for the fixture's paths), changes
    /// to the environment the fixture sets (an empty value removes a VAULT_* variable), and whether the hand reader
    /// takes it.
    struct Line: Sendable {
        var label: String
        var args: [String]
        var env: [String: String] = [:]
        var fast: Bool
    }

    static let lines: [Line] = [
        // Cache hits, each spelling the hand reader accepts.
        Line(label: "bare", args: ["token", "demo"], fast: true),
        Line(label: "--json", args: ["token", "demo", "--json"], fast: true),
        Line(label: "--json before the app", args: ["token", "--json", "demo"], fast: true),
        Line(label: "--output header", args: ["token", "demo", "--output", "header"], fast: true),
        Line(label: "--output=json", args: ["token", "demo", "--output=json"], fast: true),
        Line(label: "--output token", args: ["token", "--output", "token", "demo"], fast: true),
        Line(label: "--json wins over --output header", args: ["token", "demo", "--output", "header", "--json"], fast: true),
        Line(label: "--scope, the stored one", args: ["token", "demo", "--scope", "https://graph.microsoft.com/.default"], fast: true),
        Line(label: "--scope=", args: ["token", "demo", "--scope=https://graph.microsoft.com/.default", "--json"], fast: true),
        Line(label: "--timeout and --max-wait", args: ["token", "demo", "--timeout", "5", "--max-wait=0"], fast: true),
        Line(label: "--timeout in exponent form", args: ["token", "demo", "--timeout", "1e1"], fast: true),
        Line(label: "--vault instead of VAULT_DIR", args: ["token", "demo", "--vault", "$VAULT"], env: ["VAULT_DIR": ""], fast: true),
        Line(label: "--key-file= instead of VAULT_KEY_FILE", args: ["token", "--key-file=$KEY", "demo"], env: ["VAULT_KEY_FILE": ""], fast: true),
        Line(label: "--ca-bundle (not read on a cache hit)", args: ["token", "demo", "--ca-bundle", "/nonexistent/ca.pem"], fast: true),
        Line(label: "VAULT_CA_BUNDLE missing file (not read on a cache hit)", args: ["token", "demo"], env: ["VAULT_CA_BUNDLE": "/nonexistent/ca.pem"], fast: true),
        Line(label: "proxy variables", args: ["token", "demo"], env: ["https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"], fast: true),
        Line(label: "audit line on stderr", args: ["token", "demo", "--json"], env: ["VAULT_AUDIT_LOG": "stderr"], fast: true),
        Line(label: "an app named help", args: ["token", "help"], fast: true),

        // Errors the command itself reports: same words, hint and status on both paths.
        Line(label: "unknown app", args: ["token", "nosuch"], fast: true),
        Line(label: "invalid scope", args: ["token", "demo", "--scope", "User.Read.All"], fast: true),
        Line(label: "no unlock source", args: ["token", "demo"], env: ["VAULT_KEY_FILE": ""], fast: true),
        Line(label: "missing key file", args: ["token", "demo", "--key-file", "/nonexistent/key"], fast: true),
        Line(label: "missing passphrase file", args: ["token", "demo", "--passphrase-file", "/nonexistent/pass"], env: ["VAULT_KEY_FILE": ""], fast: true),
        Line(label: "no vault there", args: ["token", "demo", "--vault", "/nonexistent/vault"], fast: true),
        Line(label: "VAULT_DIR to nowhere", args: ["token", "demo"], env: ["VAULT_DIR": "/nonexistent/vault"], fast: true),

        // Left to ArgumentParser: help, version, usage errors and spellings the hand reader does not take.
        Line(label: "no app", args: ["token"], fast: false),
        Line(label: "only an option", args: ["token", "--json"], fast: false),
        Line(label: "two apps", args: ["token", "demo", "other"], fast: false),
        Line(label: "--help", args: ["token", "demo", "--help"], fast: false),
        Line(label: "-h", args: ["token", "-h"], fast: false),
        Line(label: "--version", args: ["token", "demo", "--version"], fast: false),
        Line(label: "-v", args: ["token", "demo", "-v"], fast: false),
        Line(label: "--verbose", args: ["token", "demo", "--verbose"], fast: false),
        Line(label: "--", args: ["token", "--", "demo"], fast: false),
        Line(label: "unknown option", args: ["token", "demo", "--bogus", "x"], fast: false),
        Line(label: "unknown --output", args: ["token", "demo", "--output", "xml"], fast: false),
        Line(label: "--output in capitals", args: ["token", "demo", "--output", "JSON"], fast: false),
        Line(label: "--json twice", args: ["token", "demo", "--json", "--json"], fast: false),
        Line(label: "--json=true", args: ["token", "demo", "--json=true"], fast: false),
        Line(label: "--scope twice", args: ["token", "demo", "--scope", "a/.default", "--scope", "https://graph.microsoft.com/.default"], fast: false),
        Line(label: "--scope without a value", args: ["token", "demo", "--scope"], fast: false),
        Line(label: "--scope empty", args: ["token", "demo", "--scope", ""], fast: false),
        Line(label: "--scope dash-led", args: ["token", "demo", "--scope", "-x"], fast: false),
        Line(label: "--timeout 0 (fails validation)", args: ["token", "demo", "--timeout", "0"], fast: false),
        Line(label: "--timeout not a number", args: ["token", "demo", "--timeout", "soon"], fast: false),
        Line(label: "--max-wait nan", args: ["token", "demo", "--max-wait", "nan"], fast: false),
        Line(label: "--max-wait over an hour", args: ["token", "demo", "--max-wait", "3601"], fast: false),
        Line(label: "--vault before token", args: ["--vault", "$VAULT", "token", "demo"], fast: false),
        Line(label: "another command", args: ["list"], fast: false),
    ]

    /// An emulator and a vault with a cached token (nothing here reaches Entra ID again). The caller stops it.
    struct Fixture {
        let emulator: EmulatorHarness
        let vault: EmulatorVault

        init() throws {
            emulator = try EmulatorHarness.start()
            do {
                vault = try EmulatorVault(emulator: emulator)
                let first = try vault.run(["token", "demo"])
                guard first.status == 0 else { throw EmulatorHarness.HarnessError(message: first.stderr) }
            } catch {
                emulator.stop()
                throw error
            }
        }

        func run(_ line: Line, path: String) throws -> RunResult {
            let args = line.args.map {
                $0.replacing("$VAULT", with: vault.vaultPath).replacing("$KEY", with: vault.keyFile).replacing("$CA", with: emulator.caPath)
            }
            var env = vault.environment
            // VaultRunner drops the test process's own VAULT_* variables, so leaving one out here unsets it.
            for (k, v) in line.env { env[k] = v.isEmpty ? nil : v }
            env["VAULT_TEST_FAST_PATH"] = path
            return try VaultRunner.run(args, environment: env)
        }
    }

    /// Every line of the table against one emulator (started and stopped here: a fixture shared between test cases
    /// would outlive the test process's last test).
    @Test("same stdout, stderr and exit status by hand and by ArgumentParser, for every line of the table")
    func samePath() throws {
        let fixture = try Fixture()
        defer { fixture.emulator.stop() }
        let marker = "vault: test: fast path\n"
        for line in Self.lines {
            let reference = try fixture.run(line, path: "off")
            let hand = try fixture.run(line, path: "report")
            #expect(hand.stderr.hasPrefix(marker) == line.fast, "\(line.label): \(hand.stderr)")
            let handErr = hand.stderr.hasPrefix(marker) ? String(hand.stderr.dropFirst(marker.count)) : hand.stderr
            #expect(hand.status == reference.status, "\(line.label)")
            #expect(hand.stdout == reference.stdout, "\(line.label)")
            #expect(Self.withoutTimes(handErr) == Self.withoutTimes(reference.stderr), "\(line.label)")
            #expect(!reference.stderr.contains(marker), "\(line.label)")
        }
    }

    @Test("the cached token comes out of the hand-read path, and no request reaches Entra ID")
    func cacheHitByHand() throws {
        let fixture = try Fixture()
        defer { fixture.emulator.stop() }
        let before = try fixture.emulator.tokenRequests()
        let r = try fixture.run(Line(label: "", args: ["token", "demo", "--json"], fast: true), path: "report")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr == "vault: test: fast path\n")
        let json = try #require(try JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any])
        #expect(json["token_source"] as? String == "cache")
        #expect((json["access_token"] as? String)?.isEmpty == false)
        #expect(try fixture.emulator.tokenRequests() == before)
    }

    /// Audit lines carry the time and the process id, which differ between two runs.
    static func withoutTimes(_ text: String) -> String {
        text.replacing(/"time":"[^"]*"/, with: "\"time\":…").replacing(/"pid":[0-9]+/, with: "\"pid\":…")
    }
}
