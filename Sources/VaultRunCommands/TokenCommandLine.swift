#if canImport(Glibc)
import Glibc
import VaultCLI
#endif

/// The hot command line, `vault token APP [options]`, read without swift-argument-parser.
///
/// Parsing with ArgumentParser reflects over every property wrapper of the command tree (Mirror, `as?` casts that scan
/// the conformance tables of the whole binary): about a fifth of a warm `vault token` that otherwise takes a few
/// milliseconds; even building an empty `TokenCommand` makes ArgumentParser's name sets, whose generic metadata costs a
/// search of every protocol conformance in the binary. This reader builds the `TokenRequest` that `TokenCommand.run()`
/// would, for a deliberately small set of spellings, and returns nil for anything else, so ArgumentParser handles it
/// exactly as before: help, errors, `--version`, unknown, repeated or dash-led values, `-v`, `--`, and every other
/// command.
///
/// Accepted, after `token` as the first argument (the only place ArgumentParser accepts it):
/// - exactly one positional, the app's name (non-empty, not starting with `-`);
/// - each of `--vault`, `--key-file`, `--passphrase-file`, `--ca-bundle`, `--timeout`, `--max-wait`, `--scope`, `--output`
///   at most once, as `--name value` or `--name=value`, the value non-empty and not starting with `-`;
///   `--output` only as `token`, `header` or `json`; `--timeout` / `--max-wait` only when `NetworkSettings.validate()`
///   passes (ArgumentParser words its error);
/// - `--json` at most once.
///
/// The request then runs through the same `TokenRequest.run()` as when ArgumentParser parsed it. In debug builds,
/// `VAULT_TEST_FAST_PATH=off` takes the ArgumentParser path for everything, so the tests can compare the two.
package enum TokenCommandLine {
    /// What `arguments` (argv, program name first) asks for, or nil when ArgumentParser must read them.
    package static func parse(_ arguments: [String]) -> TokenRequest? {
        #if DEBUG
        // For the tests (debug builds only): `off` sends every command line to ArgumentParser, the reference;
        // `report` says on stderr when this reader took the command line.
        switch getenv("VAULT_TEST_FAST_PATH").map({ String(cString: $0) }) {
        case "off": return nil
        case "report":
            let request = read(arguments)
            if request != nil { Console.err("vault: test: fast path") }
            return request
        default: break
        }
        #endif
        return read(arguments)
    }

    private static func read(_ arguments: [String]) -> TokenRequest? {
        guard arguments.count >= 3, arguments[1] == "token" else { return nil }
        // Values by Option.rawValue: a plain array, not a dictionary, whose generic metadata would cost a search
        // of every protocol conformance in the binary at the first use.
        var values = [String?](repeating: nil, count: Option.allCases.count)
        var app: String?
        var json = false
        var i = 2
        while i < arguments.count {
            let argument = arguments[i]
            i += 1
            guard argument.hasPrefix("-") else {
                guard app == nil, !argument.isEmpty else { return nil }
                app = argument
                continue
            }
            if argument == "--json" {
                guard !json else { return nil }
                json = true
                continue
            }
            // `--name=value` or `--name value`.
            let name: Substring, value: String
            if let eq = argument.firstIndex(of: "=") {
                name = argument[..<eq]
                value = String(argument[argument.index(after: eq)...])
            } else {
                guard i < arguments.count else { return nil }
                name = Substring(argument)
                value = arguments[i]
                i += 1
            }
            guard let option = Option(name), values[option.rawValue] == nil,
                  !value.isEmpty, !value.hasPrefix("-") else { return nil }
            values[option.rawValue] = value
        }
        guard let app else { return nil }
        func value(_ option: Option) -> String? { values[option.rawValue] }

        var network = NetworkSettings()
        network.caBundle = value(.caBundle)
        if let text = value(.timeout) {
            guard let seconds = Double(text) else { return nil }
            network.timeout = seconds
        }
        if let text = value(.maxWait) {
            guard let seconds = Double(text) else { return nil }
            network.maxWait = seconds
        }
        // ArgumentParser validates option groups while parsing and words their errors itself.
        guard (try? network.validate()) != nil else { return nil }

        var output = TokenCommand.TokenOutput.token
        if let text = value(.output) {
            guard let chosen = TokenCommand.TokenOutput(rawValue: text) else { return nil }
            output = chosen
        }
        return TokenRequest(vault: VaultAccess(vaultPath: value(.vault), keyFile: value(.keyFile), passphraseFile: value(.passphraseFile)),
                            network: network, app: app, scope: value(.scope), output: json ? .json : output)
    }

    /// The options read here (long names as declared in VaultOptions, NetworkOptions and TokenCommand).
    package enum Option: Int, CaseIterable {
        case vault, keyFile, passphraseFile, caBundle, timeout, maxWait, scope, output

        package init?(_ name: Substring) {
            switch name {
            case "--vault": self = .vault
            case "--key-file": self = .keyFile
            case "--passphrase-file": self = .passphraseFile
            case "--ca-bundle": self = .caBundle
            case "--timeout": self = .timeout
            case "--max-wait": self = .maxWait
            case "--scope": self = .scope
            case "--output": self = .output
            default: return nil
            }
        }
    }
}
