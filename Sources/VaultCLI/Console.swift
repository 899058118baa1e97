#if canImport(Glibc)
import Glibc
import VaultErrors
#endif

/// Writing to stdout/stderr without touching C's global `stderr` (not concurrency-safe in Swift 6).
/// Every line goes through `visible`: text from a server or a file (an Entra `error_description`, OpenBao's `errors`,
/// a `Location` header, a fleet lock's owner) cannot move the cursor, retitle the window or clear the screen.
package enum Console {
    package static func out(_ text: String) { write(1, visible(text) + "\n") }
    package static func err(_ text: String) { write(2, visible(text) + "\n") }

    /// Control characters other than newline and tab (C0, DEL, C1, and the bidirectional overrides) as `\u{…}`.
    package static func visible(_ text: String) -> String {
        func harmful(_ v: UInt32) -> Bool {
            (v < 0x20 && v != 0x0a && v != 0x09) || (0x7f...0x9f).contains(v) || (0x202a...0x202e).contains(v) || (0x2066...0x2069).contains(v)
        }
        guard text.unicodeScalars.contains(where: { harmful($0.value) }) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        for scalar in text.unicodeScalars {
            if harmful(scalar.value) { out += "\\u{" + String(scalar.value, radix: 16) + "}" } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }
    package static func write(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n <= 0 { if errno == EINTR { continue }; return }
            offset += n
        }
        bytes.removeAll()
    }

    /// Errors, warnings and hints are one line each: a newline in them (from a server's text) is shown as `\u{a}`,
    /// so nothing a server sends can print a line of its own, such as a forged `vault: hint:`.
    package static func report(_ error: VaultError) {
        err("vault: error: \(oneLine(ErrorWords.message(error)))")
        if let hint = ErrorWords.hint(error) { err("vault: hint: \(oneLine(hint))") }
    }

    package static func warn(_ text: String) { err("vault: warning: \(oneLine(text))") }
    package static func hint(_ text: String) { err("vault: hint: \(oneLine(text))") }

    package static func oneLine(_ text: String) -> String {
        guard text.utf8.contains(0x0a) else { return text }
        return text.replacing("\n", with: "\\u{a}")
    }

    package static var stdoutIsTerminal: Bool { isatty(1) == 1 }
    package static var stderrIsTerminal: Bool { isatty(2) == 1 }
    package static var stdinIsTerminal: Bool { isatty(0) == 1 }
}
