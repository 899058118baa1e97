import VaultCrypto
#if canImport(Glibc)
import Glibc
#endif

/// Writing to stdout/stderr without touching C's global `stderr` (not concurrency-safe in Swift 6).
enum Console {
    static func out(_ text: String) { write(1, text + "\n") }
    static func err(_ text: String) { write(2, text + "\n") }
    static func write(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n <= 0 { if errno == EINTR { continue }; return }
            offset += n
        }
        bytes.removeAll()
    }

    static func report(_ error: VaultError) {
        err("vault: error: \(error.reason)")
        if let hint = error.hint { err("vault: hint: \(hint)") }
    }

    static func warn(_ text: String) { err("vault: warning: \(text)") }
    static func hint(_ text: String) { err("vault: hint: \(text)") }

    static var stdoutIsTerminal: Bool { isatty(1) == 1 }
    static var stderrIsTerminal: Bool { isatty(2) == 1 }
    static var stdinIsTerminal: Bool { isatty(0) == 1 }
}
