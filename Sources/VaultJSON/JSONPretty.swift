/// Indents compact JSON for people, keeping key order (no re-encoding).
public enum JSONPretty {
    public static func format(_ bytes: some Collection<UInt8>, indent start: Int = 0) -> [UInt8] {
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
