import CSodium
import Synchronization

/// A source of random bytes. Production uses libsodium's CSPRNG; the vector generator uses a seeded
/// deterministic stream (`randombytes_buf_deterministic`) so its output is reproducible.
public protocol RandomSource: Sendable {
    func bytes(_ count: Int) -> [UInt8]
}

public struct SystemRandom: RandomSource {
    public init() {}
    public func bytes(_ count: Int) -> [UInt8] {
        try? Sodium.ready()
        var out = [UInt8](repeating: 0, count: count)
        if count > 0 { out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, count) } }
        return out
    }
}

/// Deterministic bytes from a 32-byte seed: each call derives its output from the seed and a call counter.
/// For test vectors only; never for real keys.
public final class SeededRandom: RandomSource {
    private let counter = Mutex<UInt64>(0)
    private let seed: [UInt8]

    public init(seed: [UInt8]) {
        precondition(seed.count == Int(randombytes_SEEDBYTES))
        self.seed = seed
    }

    public func bytes(_ count: Int) -> [UInt8] {
        let n = counter.withLock { c -> UInt64 in c += 1; return c }
        // seed_n = BLAKE2b-256(key: seed, message: n as 8 little-endian bytes)
        var callSeed = [UInt8](repeating: 0, count: 32)
        var le = n.littleEndian
        withUnsafeBytes(of: &le) { msg in
            _ = crypto_generichash(&callSeed, 32, msg.bindMemory(to: UInt8.self).baseAddress, 8, seed, seed.count)
        }
        var out = [UInt8](repeating: 0, count: count)
        if count > 0 { randombytes_buf_deterministic(&out, count, callSeed) }
        return out
    }
}

