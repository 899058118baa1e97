/// The redaction walker: one pass over a JSON document that copies it, replacing the values of the members a predicate
/// names secret (the modules that know the field names say which: `Redaction.isSecretKey` in VaultHTTP). The document
/// is validated by `JSONScan` first, so nothing half-parsed is ever printed.
public struct JSONRedactor {
    let bytes: [UInt8]
    var i = 0
    var out: [UInt8] = []
    let marker: [UInt8]
    let isSecret: (String) -> Bool

    /// `bytes` with the value of every member whose name `isSecret` as the string `marker`; nil when `bytes` is not
    /// one complete JSON value (nothing half-parsed is ever printed).
    public static func copy(_ bytes: [UInt8], marker: String, redacting isSecret: @escaping (String) -> Bool) -> [UInt8]? {
        guard (try? JSONScan.validate(bytes)) != nil else { return nil }
        // A byte-order mark (which the scanner allows before a document) is copied as it is.
        let bom: [UInt8] = [0xef, 0xbb, 0xbf]
        let hasBOM = bytes.starts(with: bom)
        var r = JSONRedactor(bytes: hasBOM ? Array(bytes.dropFirst(3)) : bytes, marker: JSONWriter.quoted(marker), isSecret: isSecret)
        return r.run().map { hasBOM ? bom + $0 : $0 }
    }

    init(bytes: [UInt8], marker: [UInt8], isSecret: @escaping (String) -> Bool) {
        self.bytes = bytes
        self.marker = marker
        self.isSecret = isSecret
        out.reserveCapacity(bytes.count)
    }

    mutating func run() -> [UInt8]? {
        guard value(depth: 0, copy: true) else { return nil }
        space(copy: true)
        return i == bytes.count ? out : nil
    }

    mutating func space(copy: Bool) {
        while i < bytes.count, [0x20, 0x0a, 0x0d, 0x09].contains(bytes[i]) {
            if copy { out.append(bytes[i]) }
            i += 1
        }
    }

    /// Scans one value; copies it when `copy`, else writes nothing (the caller wrote the marker).
    mutating func value(depth: Int, copy: Bool) -> Bool {
        guard depth < JSONScan.maxDepth else { return false }
        space(copy: copy)
        guard i < bytes.count else { return false }
        let start = i
        switch bytes[i] {
        case 0x22:
            guard skipString() else { return false }
        case 0x7b:
            i += 1
            if copy { out.append(0x7b) }
            space(copy: copy)
            if i < bytes.count, bytes[i] == 0x7d { i += 1; if copy { out.append(0x7d) }; return true }
            while true {
                space(copy: copy)
                let keyStart = i
                guard i < bytes.count, bytes[i] == 0x22, skipString() else { return false }
                let key = String(decoding: bytes[(keyStart + 1)..<(i - 1)], as: UTF8.self)
                if copy { out += bytes[keyStart..<i] }
                space(copy: copy)
                guard i < bytes.count, bytes[i] == 0x3a else { return false }
                i += 1
                if copy { out.append(0x3a) }
                if copy && isSecret(key) {
                    space(copy: true)
                    guard value(depth: depth + 1, copy: false) else { return false }
                    out += marker
                } else {
                    guard value(depth: depth + 1, copy: copy) else { return false }
                }
                space(copy: copy)
                guard i < bytes.count else { return false }
                if copy { out.append(bytes[i]) }
                if bytes[i] == 0x2c { i += 1; continue }
                guard bytes[i] == 0x7d else { return false }
                i += 1
                return true
            }
        case 0x5b:
            i += 1
            if copy { out.append(0x5b) }
            space(copy: copy)
            if i < bytes.count, bytes[i] == 0x5d { i += 1; if copy { out.append(0x5d) }; return true }
            while true {
                guard value(depth: depth + 1, copy: copy) else { return false }
                space(copy: copy)
                guard i < bytes.count else { return false }
                if copy { out.append(bytes[i]) }
                if bytes[i] == 0x2c { i += 1; continue }
                guard bytes[i] == 0x5d else { return false }
                i += 1
                return true
            }
        default:
            while i < bytes.count, !([0x2c, 0x7d, 0x5d, 0x20, 0x0a, 0x0d, 0x09].contains(bytes[i])) { i += 1 }
            let word = bytes[start..<i]
            let ok = ["true", "false", "null"].contains { Array($0.utf8) == Array(word) } ||
                (!word.isEmpty && word.allSatisfy { (0x30...0x39).contains($0) || [0x2d, 0x2b, 0x2e, 0x65, 0x45].contains($0) })
            guard ok else { return false }
        }
        if copy { out += bytes[start..<i] }
        return true
    }

    mutating func skipString() -> Bool {
        i += 1
        while i < bytes.count {
            if bytes[i] == 0x5c { i += 2; continue }
            if bytes[i] == 0x22 { i += 1; return true }
            if bytes[i] < 0x20 { return false }
            i += 1
        }
        return false
    }
}
