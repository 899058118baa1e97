import VaultCrypto

/// The agent's wire protocol over its Unix socket: one request and one response per connection, each a frame of a
/// u32 big-endian length (at most 512) and that many bytes.
///
/// Requests (the first byte is the operation):
/// - `1 GET`    vault id (16)                                → `0`, slot kind (u8), slot index (u8), master key (32) | `1` (none)
/// - `2 ADD`    vault id (16), kind, slot, key (32), seconds (u32)[, audit log path (UTF-8, 1–400 bytes)] → `0`
/// - `3 LOCK`   vault id (16; all zero: every vault)         → `0`
/// - `4 STATUS`                                              → `0`, count (u16), then per key: vault id (16),
///                                                             idle seconds left (u32), lifetime seconds left (u32)
public enum AgentProtocol {
    public static let maxFrame = 512
    public static let vaultIDBytes = 16
    public static let keyBytes = 32

    public enum Operation: UInt8, Sendable { case get = 1, add = 2, lock = 3, status = 4 }

    /// A held key, as GET returns it.
    public struct HeldKey: Sendable {
        public let master: SecretBytes
        /// `KeySlot.Kind.rawValue` of the slot it was unlocked through, and that slot's index.
        public let slotKind: UInt8
        public let slotIndex: UInt8
        public init(master: SecretBytes, slotKind: UInt8, slotIndex: UInt8) {
            self.master = master
            self.slotKind = slotKind
            self.slotIndex = slotIndex
        }
    }

    /// Longest audit log path an ADD may carry.
    public static let maxAuditPath = 400

    /// A key the agent gave to a process: who asked (from `SO_PEERCRED` and /proc), for the audit log the key's ADD named.
    public struct Handout: Sendable, Equatable {
        public let vaultID: [UInt8]
        public let auditLog: String?
        public let peerUID: UInt32
        public let peerPID: Int32
        /// `/proc/PID/exe` when readable (a non-dumpable peer, such as vault itself, hides it), else nil.
        public let peerExecutable: String?
        /// `/proc/PID/comm`, readable for any process.
        public let peerCommand: String?
    }

    public struct KeyStatus: Sendable, Equatable {
        public let vaultID: [UInt8]
        public let idleLeft: UInt32
        public let lifetimeLeft: UInt32
    }
}

/// Errors of the agent and its clients.
public struct AgentError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
