import EntraAuth
import FoundationEssentials
import Synchronization
import VaultCrypto
import VaultErrors
import VaultStore
import VaultFormat
import VaultRecords

/// A token kept in a `SecretArena` slot: readable while the slot still holds it.
public struct ArenaSecret: SecretReadable {
    let arena: SecretArena
    let handle: SecretArena.Handle

    public func readSecret<R: Sendable>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R? {
        try arena.read(handle, body)
    }
}

/// Resource identifiers as managed-identity clients send them.
public enum Resource {
    /// One spelling per resource: scheme and host lower-cased, trailing slashes removed (`HTTPS://Graph.Microsoft.com/`
    /// and `https://graph.microsoft.com` are one resource); a bare app id (a GUID) lower-cased. The path keeps its case
    /// (Entra compares app id URIs' paths as given).
    public static func canonical(_ resource: String) -> String {
        var b = Array(resource.utf8)
        while b.last == UInt8(ascii: "/") { b.removeLast() }
        func lower(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x5a ? c | 0x20 : c }
        // `scheme://`: the scheme and the host (up to the first / ? or #) lower-cased.
        var sep: Int?
        if b.count >= 3 {
            for i in 0..<(b.count - 2) where b[i] == UInt8(ascii: ":") && b[i + 1] == UInt8(ascii: "/") && b[i + 2] == UInt8(ascii: "/") {
                sep = i
                break
            }
        }
        if let sep {
            var i = 0
            while i < b.count {
                if i >= sep + 3 && (b[i] == UInt8(ascii: "/") || b[i] == UInt8(ascii: "?") || b[i] == UInt8(ascii: "#")) { break }
                b[i] = lower(b[i])
                i += 1
            }
            return String(decoding: b, as: UTF8.self)
        }
        let isHex: (UInt8) -> Bool = { c in (c >= 0x30 && c <= 0x39) || (lower(c) >= 0x61 && lower(c) <= 0x66) || c == 0x2d }
        if b.count == 36 && b.allSatisfy(isHex) { b = b.map(lower) }
        return String(decoding: b, as: UTF8.self)
    }
}
