import VaultCrypto
#if canImport(Glibc)
import Glibc
#endif

/// A `vault` command's side of the agent protocol. Every call fails soft where a fallback exists: no agent means
/// "ask the usual way" (a prompt), never an error.
public struct AgentClient: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    func exchange(_ request: [UInt8]) throws -> SecretBytes? {
        guard let fd = try AgentSocket.connect(path) else { return nil }
        defer { close(fd) }
        guard request.withUnsafeBytes({ AgentSocket.send(fd, $0) }) else { throw AgentError("the agent at \(path) did not take the request") }
        guard let answer = AgentSocket.receive(fd) else { throw AgentError("the agent at \(path) did not answer") }
        return answer
    }

    /// The held key of the vault with `vaultID`, or nil (no agent, or it holds no key for this vault).
    public func key(vaultID: [UInt8]) -> AgentProtocol.HeldKey? {
        guard vaultID.count == AgentProtocol.vaultIDBytes, let answer = try? exchange([AgentProtocol.Operation.get.rawValue] + vaultID) else { return nil }
        return answer.withUnsafeBytes { a -> AgentProtocol.HeldKey? in
            guard a.count == 3 + AgentProtocol.keyBytes, a[0] == 0 else { return nil }
            return AgentProtocol.HeldKey(master: SecretBytes(copying: UnsafeRawBufferPointer(rebasing: a[3...])), slotKind: a[1], slotIndex: a[2])
        }
    }

    /// Gives the agent a key for `seconds`; false when no agent listens. Every later handout of the key is written to
    /// `auditLog` (the vault's audit log) by the agent.
    public func add(vaultID: [UInt8], key: AgentProtocol.HeldKey, seconds: UInt32, auditLog: String? = nil) throws -> Bool {
        let auditBytes = Array((auditLog ?? "").utf8)
        guard auditBytes.count <= AgentProtocol.maxAuditPath else { throw AgentError("the audit log path is too long for the agent: \(auditLog ?? "")") }
        let n = 1 + AgentProtocol.vaultIDBytes + 2 + AgentProtocol.keyBytes + 4 + auditBytes.count
        let request = SecretBytes(count: n)
        request.withUnsafeMutableBytes { r in
            r[0] = AgentProtocol.Operation.add.rawValue
            UnsafeMutableRawBufferPointer(rebasing: r[1..<17]).copyBytes(from: vaultID)
            r[17] = key.slotKind
            r[18] = key.slotIndex
            key.master.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: r[19..<51]).copyMemory(from: $0) }
            r[51] = UInt8(seconds >> 24); r[52] = UInt8((seconds >> 16) & 0xff); r[53] = UInt8((seconds >> 8) & 0xff); r[54] = UInt8(seconds & 0xff)
            UnsafeMutableRawBufferPointer(rebasing: r[55...]).copyBytes(from: auditBytes)
        }
        guard let fd = try AgentSocket.connect(path) else { return false }
        defer { close(fd) }
        guard request.withUnsafeBytes({ AgentSocket.send(fd, $0) }), let answer = AgentSocket.receive(fd),
              answer.withUnsafeBytes({ $0.first == 0 }) else { throw AgentError("the agent at \(path) refused the key") }
        return true
    }

    /// Wipes every key (the agent then exits); false when no agent listens.
    public func lock() throws -> Bool {
        guard let answer = try exchange([AgentProtocol.Operation.lock.rawValue] + [UInt8](repeating: 0, count: AgentProtocol.vaultIDBytes)) else { return false }
        return answer.withUnsafeBytes { $0.first == 0 }
    }

    /// The keys held, or nil when no agent listens.
    public func status() throws -> [AgentProtocol.KeyStatus]? {
        guard let answer = try exchange([AgentProtocol.Operation.status.rawValue]) else { return nil }
        return answer.withUnsafeBytes { a -> [AgentProtocol.KeyStatus] in
            guard a.count >= 3, a[0] == 0 else { return [] }
            let n = Int(a[1]) << 8 | Int(a[2])
            var out: [AgentProtocol.KeyStatus] = []
            var i = 3
            func u32(_ at: Int) -> UInt32 { UInt32(a[at]) << 24 | UInt32(a[at + 1]) << 16 | UInt32(a[at + 2]) << 8 | UInt32(a[at + 3]) }
            for _ in 0..<n where i + 24 <= a.count {
                out.append(AgentProtocol.KeyStatus(vaultID: Array(a[i..<(i + 16)]), idleLeft: u32(i + 16), lifetimeLeft: u32(i + 20)))
                i += 24
            }
            return out
        }
    }
}
