import CSodium
#if canImport(Glibc)
import Glibc
#endif

/// Secret material (keys, passphrases, client secrets, plaintext records) in `sodium_malloc` memory:
/// guarded pages, locked where the memlock limit allows, and wiped by `sodium_free` on deinit.
/// The bytes are only reachable inside the closures below; pointers must not escape them.
public final class SecretBytes: @unchecked Sendable {
    // @unchecked: the buffer is owned by this instance and only lent out inside closures; callers that share a
    // SecretBytes across tasks only read it. Mutation happens while a single owner builds the value.
    private let pointer: UnsafeMutableRawPointer
    public let count: Int
    /// For a view: the secret whose memory this one lies in (kept alive, and freed and wiped by it).
    private let owner: SecretBytes?

    /// Zero-filled secret buffer of `count` bytes.
    public init(count: Int) {
        precondition(count >= 0, "negative secret size")
        try? Sodium.ready()
        #if FUZZING
        // Fuzz builds only (bench/fuzz.sh): ordinary heap memory, so ASan checks every access to secret buffers and
        // an execution does not pay sodium_malloc's four system calls per buffer.
        guard let p = calloc(max(count, 1), 1) else { fatalError("calloc failed: out of memory") }
        #else
        // sodium_malloc(0) returns a valid guarded pointer as well; allocate at least one byte to keep it simple.
        guard let p = sodium_malloc(max(count, 1)) else {
            fatalError("sodium_malloc failed: out of memory")
        }
        // sodium_malloc ignores a failed mlock. Locking again costs nothing for locked pages and tells whether these are.
        if mlock(p, max(count, 1)) != 0 { SecretMemory.noteUnlocked(errno: errno) }
        // A forked child (vault exec's, before it execs the program) sees these pages zeroed, not a copy of the secret.
        SecretMemory.wipeOnFork(p, count: max(count, 1))
        #endif
        sodium_memzero(p, max(count, 1))
        pointer = p
        self.count = count
        owner = nil
    }

    private init(viewing parent: SecretBytes, range: Range<Int>) {
        pointer = parent.pointer + range.lowerBound
        count = range.count
        owner = parent.owner ?? parent
    }

    /// Bytes `range` of this secret without a copy: the view shares (and keeps alive) this secret's locked memory, so
    /// reading thousands of records costs one allocation, not one per secret. Views are read-only.
    public func view(_ range: Range<Int>) -> SecretBytes {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        return SecretBytes(viewing: self, range: range)
    }

    /// Copies `bytes` into a new secret buffer. The caller remains responsible for wiping its source.
    public convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(count: bytes.count)
        if let base = bytes.baseAddress, bytes.count > 0 {
            pointer.copyMemory(from: base, byteCount: bytes.count)
        }
    }

    /// Copies a byte array and wipes the array's storage afterwards (use only for arrays the caller owns).
    public convenience init(consuming bytes: inout [UInt8]) {
        self.init(count: bytes.count)
        bytes.withUnsafeMutableBytes { buf in
            if let base = buf.baseAddress, buf.count > 0 {
                pointer.copyMemory(from: base, byteCount: buf.count)
                sodium_memzero(base, buf.count)
            }
        }
        bytes.removeAll()
    }

    /// `count` bytes from libsodium's CSPRNG.
    public static func random(count: Int) -> SecretBytes {
        let s = SecretBytes(count: count)
        if count > 0 { randombytes_buf(s.pointer, count) }
        return s
    }

    deinit {
        if owner != nil { return } // the owner wipes and frees the memory
        #if FUZZING
        sodium_memzero(pointer, max(count, 1))
        free(pointer)
        #else
        sodium_free(pointer)
        #endif
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    public func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        precondition(owner == nil, "a view of another secret is read-only")
        return try body(UnsafeMutableRawBufferPointer(start: pointer, count: count))
    }

    /// A copy holding bytes `range` of this secret.
    public func slice(_ range: Range<Int>) -> SecretBytes {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        return withUnsafeBytes { SecretBytes(copying: UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    /// Constant-time equality (`sodium_memcmp`).
    public func constantTimeEquals(_ other: SecretBytes) -> Bool {
        guard count == other.count else { return false }
        if count == 0 { return true }
        return withUnsafeBytes { a in other.withUnsafeBytes { b in sodium_memcmp(a.baseAddress!, b.baseAddress!, count) == 0 } }
    }

    /// Constant-time equality with bytes that are not secret themselves (a value a client sent). Lengths may differ.
    public func constantTimeEquals(_ other: UnsafeRawBufferPointer) -> Bool {
        guard count == other.count else { return false }
        if count == 0 { return true }
        return withUnsafeBytes { a in sodium_memcmp(a.baseAddress!, other.baseAddress!, count) == 0 }
    }

    /// True when every byte is printable ASCII (0x21…0x7e); client secrets and hints are such strings.
    public var isPrintableASCII: Bool {
        withUnsafeBytes { buf in buf.allSatisfy { $0 >= 0x21 && $0 <= 0x7e } }
    }

    /// The first `n` bytes as a non-secret string (used for the 3-character hint that Entra ID also shows).
    public func prefixString(_ n: Int) -> String {
        withUnsafeBytes { buf in String(decoding: buf.prefix(n), as: UTF8.self) }
    }

    /// Concatenation in secret memory.
    public static func concat(_ parts: [SecretBytes]) -> SecretBytes {
        let total = parts.reduce(0) { $0 + $1.count }
        let out = SecretBytes(count: total)
        out.withUnsafeMutableBytes { dst in
            var offset = 0
            for part in parts {
                part.withUnsafeBytes { src in
                    if let s = src.baseAddress, src.count > 0 {
                        (dst.baseAddress! + offset).copyMemory(from: s, byteCount: src.count)
                    }
                }
                offset += part.count
            }
        }
        return out
    }
}

/// Wipes a byte array's storage in place (the array must be uniquely referenced for this to reach its storage).
public func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { buf in
        if let base = buf.baseAddress, buf.count > 0 { sodium_memzero(base, buf.count) }
    }
}

extension UnsafeRawBufferPointer {
    /// Typed base pointer for libsodium calls. SecretBytes buffers always have a base address (even when empty).
    var u8: UnsafePointer<UInt8> { baseAddress!.assumingMemoryBound(to: UInt8.self) }
}

extension UnsafeMutableRawBufferPointer {
    var u8: UnsafeMutablePointer<UInt8> { baseAddress!.assumingMemoryBound(to: UInt8.self) }
}
