import CSodium
#if canImport(Glibc)
import Glibc
#endif

/// Unkeyed BLAKE2b over public bytes fed in pieces (`crypto_generichash_init/update/final`), whose state can be forked:
/// a writer hashes the part two byte strings share once, then finishes each. The state lives in 64-byte-aligned memory
/// (libsodium's SIMD code requires it) owned by this object.
public final class StreamingHash {
    private let state: UnsafeMutableRawPointer
    private let length: Int
    private static let stateBytes = crypto_generichash_statebytes()

    public init(length: Int) {
        try? Sodium.ready()
        self.length = length
        state = UnsafeMutableRawPointer.allocate(byteCount: Self.stateBytes, alignment: 64)
        _ = crypto_generichash_init(OpaquePointer(state), nil, 0, length)
    }

    private init(copying other: StreamingHash) {
        length = other.length
        state = UnsafeMutableRawPointer.allocate(byteCount: Self.stateBytes, alignment: 64)
        state.copyMemory(from: other.state, byteCount: Self.stateBytes)
    }

    /// An independent hash that has seen what this one has.
    public func fork() -> StreamingHash { StreamingHash(copying: self) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        _ = crypto_generichash_update(OpaquePointer(state),
                                      bytes.bindMemory(to: UInt8.self).baseAddress, UInt64(bytes.count))
    }

    public func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        _ = crypto_generichash_final(OpaquePointer(state), &out, length)
        return out
    }

    deinit { state.deallocate() }
}
