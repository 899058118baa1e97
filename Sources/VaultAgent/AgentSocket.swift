import VaultSystem
import VaultCrypto
#if canImport(Glibc)
import Glibc
#endif

/// Where the agent listens, and the checks both sides make on it.
public enum AgentSocket {
    /// `$VAULT_AGENT_SOCK`, else `$XDG_RUNTIME_DIR/vault/agent.sock`, else `/tmp/vault-agent-UID/agent.sock`.
    public static func path(environment: [String: String]) -> String {
        if let p = environment["VAULT_AGENT_SOCK"], !p.isEmpty { return p }
        if let run = environment["XDG_RUNTIME_DIR"], !run.isEmpty { return run + "/vault/agent.sock" }
        return "/tmp/vault-agent-\(geteuid())/agent.sock"
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    /// The socket's directory must be ours and private (0700): creates it if missing, refuses anything else.
    static func prepareDirectory(_ dir: String, create: Bool) throws {
        if create { _ = mkdir(dir, 0o700) }
        var st = stat()
        guard lstat(dir, &st) == 0 else { throw AgentError("the agent's directory \(dir) does not exist") }
        guard st.st_mode & S_IFMT == S_IFDIR, st.st_uid == geteuid(), st.st_mode & 0o077 == 0 else {
            throw AgentError("the agent's directory \(dir) is not a private directory of this user (it must be 0700 and yours)")
        }
    }

    static func address(_ path: String) throws -> (sockaddr_un, socklen_t) {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw AgentError("the agent socket path is too long: \(path)") }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return (addr, socklen_t(MemoryLayout<sockaddr_un>.size))
    }

    /// Connects to the agent; nil when none listens there (no socket, or a stale one). Checks the agent is this user.
    static func connect(_ path: String) throws -> Int32? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw AgentError("cannot create a socket: \(String(cString: strerror(errno)))") }
        var (addr, len) = try address(path)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, len) } }
        guard rc == 0 else {
            close(fd)
            if errno == ENOENT || errno == ECONNREFUSED { return nil }
            throw AgentError("cannot reach the agent at \(path): \(String(cString: strerror(errno)))")
        }
        guard let peer = PeerCredentials.of(fd), peer.uid == geteuid() else {
            close(fd)
            throw AgentError("the process listening at \(path) is not this user's agent; refusing to use it")
        }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    // MARK: frames

    static func send(_ fd: Int32, _ payload: UnsafeRawBufferPointer) -> Bool {
        guard payload.count <= AgentProtocol.maxFrame else { return false }
        var frame = [UInt8](repeating: 0, count: 4 + payload.count)
        let n = UInt32(payload.count).bigEndian
        withUnsafeBytes(of: n) { len in frame.withUnsafeMutableBytes { f in UnsafeMutableRawBufferPointer(rebasing: f[0..<4]).copyMemory(from: len) } }
        frame.withUnsafeMutableBytes { f in UnsafeMutableRawBufferPointer(rebasing: f[4...]).copyMemory(from: payload) }
        defer { frame.withUnsafeMutableBytes { if let b = $0.baseAddress { memset(b, 0, $0.count) } } }
        return frame.withUnsafeBytes { writeAll(fd, $0) }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = Glibc.send(fd, bytes.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            done += n
        }
        return true
    }

    /// Reads one frame into secret memory; nil on EOF, timeout, or a frame over the limit.
    static func receive(_ fd: Int32) -> SecretBytes? {
        var header = [UInt8](repeating: 0, count: 4)
        guard header.withUnsafeMutableBytes({ readAll(fd, $0) }) else { return nil }
        let length = Int(UInt32(header[0]) << 24 | UInt32(header[1]) << 16 | UInt32(header[2]) << 8 | UInt32(header[3]))
        guard length > 0, length <= AgentProtocol.maxFrame else { return nil }
        let body = SecretBytes(count: length)
        guard body.withUnsafeMutableBytes({ readAll(fd, $0) }) else { return nil }
        return body
    }

    static func readAll(_ fd: Int32, _ into: UnsafeMutableRawBufferPointer) -> Bool {
        var done = 0
        while done < into.count {
            let n = recv(fd, into.baseAddress! + done, into.count - done, 0)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            done += n
        }
        return true
    }
}
