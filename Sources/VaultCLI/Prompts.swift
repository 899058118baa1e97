import VaultCrypto
import VaultErrors
import VaultStore
import VaultFormat
import VaultRecords
#if canImport(Glibc)
import Glibc
#endif

/// Reading new passphrases and client secrets.
package enum Prompts {
    package static let minimumPassphraseLength = 8

    /// A new passphrase, typed twice on the terminal (never stdin), or read from a file for automation.
    package static func newPassphrase(file: String?) throws -> SecretBytes {
        if let file {
            let p = try KeyFiles.readPassphrase(file)
            try checkStrength(p)
            return p
        }
        let first = try Terminal.readHidden(prompt: "New vault passphrase: ")
        try checkStrength(first)
        let second = try Terminal.readHidden(prompt: "Repeat the passphrase: ")
        guard first.constantTimeEquals(second) else {
            throw VaultError("passphrase.mismatch", "the two passphrases differ")
        }
        return first
    }

    package static func checkStrength(_ p: SecretBytes) throws {
        guard p.count >= minimumPassphraseLength else {
            throw VaultError("passphrase.short", "the passphrase is shorter than \(minimumPassphraseLength) bytes")
        }
    }

    /// The client secret: piped stdin when stdin is not a terminal, else a hidden prompt on the terminal.
    package static func clientSecret(for app: String) throws -> SecretBytes {
        let secret: SecretBytes
        if !Console.stdinIsTerminal {
            secret = try readStdinSecret()
        } else {
            secret = try Terminal.readHidden(prompt: "Client secret for \(app): ")
        }
        try validateSecret(secret)
        return secret
    }

    package static func validateSecret(_ secret: SecretBytes) throws {
        guard secret.count > 0 else {
            throw VaultError("secret.empty", "no client secret was given")
        }
        guard secret.count <= 256 else {
            throw VaultError("secret.long", "the client secret is longer than 256 bytes; Entra ID secrets are 40 characters")
        }
        guard secret.isPrintableASCII else {
            throw VaultError("secret.chars", "the client secret contains spaces, control or non-ASCII characters")
        }
        // What vault prints in place of a secret (`vault run` redacts Graph's secretText) is never one.
        guard !secret.withUnsafeBytes({ $0.elementsEqual("[REDACTED]".utf8) }) else {
            throw VaultError("secret.redacted", "the client secret given is '[REDACTED]', the marker vault prints in place of a secret")
        }
    }

    /// A request body from stdin (at most 4 MiB).
    package static func readStdinBody() throws -> SecretBytes { try readStdinSecret(limit: 4 << 20, trim: false) }

    /// Reads stdin to its end into secret memory (at most 4 KiB), dropping one trailing newline.
    package static func readStdinSecret(limit: Int = 4096, trim: Bool = true) throws -> SecretBytes {
        let buffer = SecretBytes(count: limit + 1)
        var total = 0
        while total <= limit {
            let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress! + total, $0.count - total) }
            if n < 0 { if errno == EINTR { continue }; throw VaultError("io.stdin", "cannot read stdin") }
            if n == 0 { break }
            total += n
        }
        guard total <= limit else { throw VaultError("secret.long", "stdin holds more than \(limit) bytes; expected one client secret") }
        if !trim { return buffer.slice(0..<total) }
        buffer.withUnsafeBytes { b in
            if total > 0, b[total - 1] == 0x0a { total -= 1 }
            if total > 0, b[total - 1] == 0x0d { total -= 1 }
        }
        return buffer.slice(0..<total)
    }
}
