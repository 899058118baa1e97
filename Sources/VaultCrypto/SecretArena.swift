import CSodium
import Synchronization

/// Secret bytes that may be gone by the time they are read (an arena slot reused), or are always there (`SecretBytes`).
public protocol SecretReadable: Sendable {
    /// Runs `body` over the bytes, or returns nil when they are gone. The bytes must not escape `body`.
    func readSecret<R: Sendable>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R?
}

extension SecretBytes: SecretReadable {
    public func readSecret<R: Sendable>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R? {
        try withUnsafeBytes(body)
    }
}

/// A fixed number of fixed-size slots in one `SecretBytes` allocation: many short secrets (the tokens a long-running
/// endpoint keeps in memory) cost one locked mapping, not one `sodium_malloc` (four mappings) each. A handle names a
/// slot and the generation it was written in: once the slot is freed or reused, reading the old handle gives nil,
/// never another secret.
public final class SecretArena: Sendable {
    public struct Handle: Sendable, Hashable {
        public let slot: Int
        public let generation: UInt64
    }

    struct Slot {
        var generation: UInt64 = 0
        var length = -1  // -1: free
    }

    public let slotSize: Int
    public let slotCount: Int
    private let memory: SecretBytes
    private let slots: Mutex<[Slot]>

    public init(slots: Int, slotSize: Int) {
        precondition(slots > 0 && slotSize > 0)
        self.slotCount = slots
        self.slotSize = slotSize
        memory = SecretBytes(count: slots * slotSize)
        self.slots = Mutex(Array(repeating: Slot(), count: slots))
    }

    /// Copies `bytes` into a free slot; nil when they do not fit a slot or every slot is taken.
    public func store(_ bytes: UnsafeRawBufferPointer) -> Handle? {
        guard bytes.count <= slotSize else { return nil }
        return slots.withLock { slots -> Handle? in
            guard let i = slots.firstIndex(where: { $0.length < 0 }) else { return nil }
            slots[i].generation &+= 1
            slots[i].length = bytes.count
            memory.withUnsafeMutableBytes { m in
                let dst = m.baseAddress! + i * slotSize
                if let src = bytes.baseAddress, bytes.count > 0 { dst.copyMemory(from: src, byteCount: bytes.count) }
            }
            return Handle(slot: i, generation: slots[i].generation)
        }
    }

    /// Runs `body` over the slot's bytes while it still holds what `handle` names; nil otherwise. The bytes must not
    /// escape `body` (the slot may be reused as soon as it returns).
    public func read<R: Sendable>(_ handle: Handle, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R? {
        try slots.withLock { slots -> R? in
            guard slots.indices.contains(handle.slot) else { return nil }
            let s = slots[handle.slot]
            guard s.length >= 0, s.generation == handle.generation else { return nil }
            return try memory.withUnsafeBytes { m in
                try body(UnsafeRawBufferPointer(rebasing: m[handle.slot * slotSize ..< handle.slot * slotSize + s.length]))
            }
        }
    }

    /// Wipes and frees the slot if it still holds what `handle` names.
    public func free(_ handle: Handle) {
        slots.withLock { slots in
            guard slots.indices.contains(handle.slot), slots[handle.slot].generation == handle.generation, slots[handle.slot].length >= 0 else { return }
            slots[handle.slot].length = -1
            memory.withUnsafeMutableBytes { m in
                sodium_memzero(m.baseAddress! + handle.slot * slotSize, slotSize)
            }
        }
    }

    /// Slots in use.
    public var used: Int { slots.withLock { $0.filter { $0.length >= 0 }.count } }
}
