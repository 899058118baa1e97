import VaultCrypto
#if canImport(Glibc)
import Glibc
import VaultErrors
#endif

/// The controlling terminal (`/dev/tty`), for prompts that must never come from stdin.
package enum Terminal {
    // Saved terminal state, restored by the signal handler if the user presses Ctrl-C at a hidden prompt.
    // nonisolated(unsafe): written only by the prompting thread before the handler is installed and read by the
    // handler, which runs on that same thread; there is no concurrent access.
    nonisolated(unsafe) private static var savedState = termios()
    nonisolated(unsafe) private static var savedFD: Int32 = -1

    /// Reads a line without echo into secret memory. Throws when there is no terminal.
    package static func readHidden(prompt: String, maxBytes: Int = 1024) throws -> SecretBytes {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else {
            throw VaultError("terminal.none", "no terminal to ask for \(prompt.lowercased().trimmingSuffix(": "))")
        }
        defer { close(fd) }
        Console.write(fd, prompt)
        var state = termios()
        let haveState = tcgetattr(fd, &state) == 0
        if haveState {
            savedState = state
            savedFD = fd
            installRestoreHandlers()
            var quiet = state
            quiet.c_lflag &= ~tcflag_t(ECHO)
            quiet.c_lflag |= tcflag_t(ICANON)
            tcsetattr(fd, TCSAFLUSH, &quiet)
        }
        defer {
            if haveState {
                tcsetattr(fd, TCSAFLUSH, &state)
                savedFD = -1
            }
            Console.write(fd, "\n")
        }
        let buffer = SecretBytes(count: maxBytes)
        var length = 0
        var byte: UInt8 = 0
        while true {
            let n = read(fd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 || byte == 0x0a { break }
            if byte == 0x0d { continue }
            guard length < maxBytes else {
                byte = 0
                throw VaultError("terminal.too_long", "the value typed is longer than \(maxBytes) bytes")
            }
            buffer.withUnsafeMutableBytes { $0[length] = byte }
            length += 1
        }
        byte = 0
        return buffer.slice(0..<length)
    }

    /// Asks a yes/no question on the terminal; nil when there is no terminal.
    package static func confirm(_ question: String) -> Bool? {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        Console.write(fd, question + " [y/N] ")
        var answer: [UInt8] = []
        var byte: UInt8 = 0
        while read(fd, &byte, 1) == 1, byte != 0x0a { answer.append(byte) }
        let text = String(decoding: answer, as: UTF8.self).lowercased()
        return text == "y" || text == "yes"
    }

    private static func installRestoreHandlers() {
        let handler: @convention(c) (Int32) -> Void = { sig in
            if Terminal.savedFD >= 0 { tcsetattr(Terminal.savedFD, TCSAFLUSH, &Terminal.savedState) }
            signal(sig, SIG_DFL)
            raise(sig)
        }
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] { signal(sig, handler) }
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    package var trimmed: String {
        var sub = Substring(self)
        while let f = sub.first, f == " " || f == "\t" { sub = sub.dropFirst() }
        while let l = sub.last, l == " " || l == "\t" { sub = sub.dropLast() }
        return String(sub)
    }
}

extension String {
    package func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
