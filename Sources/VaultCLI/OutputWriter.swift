#if canImport(Glibc)
import Glibc
#endif

/// Buffered writes to stdout, flushed per page so output streams while memory stays flat.
package final class OutputWriter {
    private var buffer: [UInt8] = []
    private let fd: Int32

    package init(fd: Int32 = 1) {
        self.fd = fd
        buffer.reserveCapacity(1 << 20)
    }

    package func write(_ bytes: some Sequence<UInt8>) { buffer.append(contentsOf: bytes) }
    package func write(_ s: String) { buffer.append(contentsOf: s.utf8) }

    package func flush() {
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

/// A one-line progress report on stderr (terminal only), overwritten in place.
/// @unchecked Sendable: used only from the command's thread; the retry callback runs synchronously on it.
package final class Progress: @unchecked Sendable {
    package let enabled: Bool
    private let started = ContinuousClock.now
    private var shown = false

    package init(enabled: Bool) { self.enabled = enabled }

    package func update(items: Int, pages: Int) {
        guard enabled else { return }
        let (seconds, attoseconds) = (ContinuousClock.now - started).components
        let elapsed = Double(seconds) + Double(attoseconds) / 1e18
        let rate = elapsed > 0 ? Int(Double(items) / elapsed) : 0
        Console.write(2, "\r\u{1B}[K\(items) users, \(pages) page\(pages == 1 ? "" : "s"), \(rate)/s")
        shown = true
    }

    package func note(_ text: String) {
        guard enabled else { return }
        Console.write(2, "\r\u{1B}[K" + text)
        shown = true
    }

    package func finish() {
        if shown { Console.write(2, "\r\u{1B}[K") }
    }
}
