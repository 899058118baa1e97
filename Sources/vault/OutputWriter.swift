#if canImport(Glibc)
import Glibc
#endif

/// Buffered writes to stdout, flushed per page so output streams while memory stays flat.
final class OutputWriter {
    private var buffer: [UInt8] = []
    private let fd: Int32

    init(fd: Int32 = 1) {
        self.fd = fd
        buffer.reserveCapacity(1 << 20)
    }

    func write(_ bytes: some Sequence<UInt8>) { buffer.append(contentsOf: bytes) }
    func write(_ s: String) { buffer.append(contentsOf: s.utf8) }

    func flush() {
        var offset = 0
        buffer.withUnsafeBytes { b in
            while offset < b.count {
                let n = Glibc.write(fd, b.baseAddress! + offset, b.count - offset)
                if n <= 0 { if errno == EINTR { continue }; break }
                offset += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    deinit { flush() }
}

/// Indents compact JSON for people, keeping key order (no re-encoding).
enum JSONPretty {
    static func format(_ bytes: some Collection<UInt8>, indent start: Int = 0) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        var level = start
        var inString = false, escaped = false
        var previous: UInt8 = 0
        func newline() {
            out.append(0x0a)
            out.append(contentsOf: [UInt8](repeating: 0x20, count: level * 2))
        }
        for c in bytes {
            if inString {
                out.append(c)
                if escaped { escaped = false } else if c == 0x5c { escaped = true } else if c == 0x22 { inString = false }
                previous = c
                continue
            }
            switch c {
            case 0x22: inString = true; out.append(c)
            case 0x7b, 0x5b: out.append(c); level += 1; newline()
            case 0x7d, 0x5d:
                level -= 1
                if previous == 0x7b || previous == 0x5b { out.removeLast(level * 2 + 3); out.append(c) } else {
                    newline(); out.append(c)
                }
            case 0x2c: out.append(c); newline()
            case 0x3a: out.append(c); out.append(0x20)
            case 0x20, 0x0a, 0x0d, 0x09: continue
            default: out.append(c)
            }
            previous = c
        }
        return out
    }
}

/// A one-line progress report on stderr (terminal only), overwritten in place.
/// @unchecked Sendable: used only from the command's thread; the retry callback runs synchronously on it.
final class Progress: @unchecked Sendable {
    let enabled: Bool
    private let started = ContinuousClock.now
    private var shown = false

    init(enabled: Bool) { self.enabled = enabled }

    func update(items: Int, pages: Int) {
        guard enabled else { return }
        let (seconds, attoseconds) = (ContinuousClock.now - started).components
        let elapsed = Double(seconds) + Double(attoseconds) / 1e18
        let rate = elapsed > 0 ? Int(Double(items) / elapsed) : 0
        Console.write(2, "\r\u{1B}[K\(items) users, \(pages) page\(pages == 1 ? "" : "s"), \(rate)/s")
        shown = true
    }

    func note(_ text: String) {
        guard enabled else { return }
        Console.write(2, "\r\u{1B}[K" + text)
        shown = true
    }

    func finish() {
        if shown { Console.write(2, "\r\u{1B}[K") }
    }
}
