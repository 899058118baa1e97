import VaultSystem
import VaultCrypto
#if canImport(Glibc)
import Glibc
#endif

/// The unlock-once agent: holds unlocked vault master keys in secret memory (`sodium_malloc`, locked, wiped) and hands
/// them to processes of the same user over a Unix socket (0600 in a 0700 directory; every peer's uid is checked with
/// `SO_PEERCRED`). A key is wiped after `idle` seconds without use, after its lifetime, on LOCK, and on SIGTERM/SIGINT;
/// the agent exits once it holds no key after holding one. Nothing it holds is ever written to disk.
public final class AgentServer {
    struct Entry {
        let key: AgentProtocol.HeldKey
        let expires: Int64
        var lastUsed: Int64
        let auditLog: String?
    }

    public let path: String
    let idle: Int64
    let maxLifetime: Int64
    let log: (String) -> Void
    let audit: (AgentProtocol.Handout) -> Void
    let clock: () -> Int64
    private var keys: [[UInt8]: Entry] = [:]
    private var everHeld = false
    private var listener: Int32 = -1

    /// `audit` is called for every key handed out, before the answer is sent.
    public init(path: String, idle: Int64, maxLifetime: Int64, log: @escaping (String) -> Void,
                audit: @escaping (AgentProtocol.Handout) -> Void = { _ in }, clock: @escaping () -> Int64) {
        self.path = path
        self.idle = idle
        self.maxLifetime = maxLifetime
        self.log = log
        self.audit = audit
        self.clock = clock
    }

    /// Binds the socket (refusing when another agent answers there; removing a stale socket left by one that died).
    public func bind() throws {
        let dir = AgentSocket.directory(of: path)
        try AgentSocket.prepareDirectory(dir, create: true)
        if let fd = try? AgentSocket.connect(path) {
            close(fd)
            throw AgentError("an agent is already running at \(path)")
        }
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw AgentError("cannot create a socket: \(String(cString: strerror(errno)))") }
        var (addr, len) = try AgentSocket.address(path)
        let old = umask(0o177)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, len) } }
        umask(old)
        guard rc == 0, chmod(path, 0o600) == 0, listen(fd, 64) == 0 else {
            let text = String(cString: strerror(errno))
            close(fd)
            throw AgentError("cannot listen at \(path): \(text)")
        }
        listener = fd
    }

    /// Serves until LOCK, a signal (TERM, INT, HUP, QUIT; blocked by the caller) or the last key expiring.
    public func run() {
        defer {
            keys.removeAll()  // SecretBytes wipe themselves as they go
            if listener >= 0 { close(listener) }
            unlink(path)
        }
        while true {
            let sig = Signals.wait(seconds: 0)
            if sig > 0 && sig != SIGCHLD {
                log("signal \(sig): keys wiped")
                return
            }
            expire()
            if everHeld && keys.isEmpty {
                log("no key left: exiting")
                return
            }
            var pfd = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, 1000)
            guard ready > 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            if handle(client) == .lockedAll { close(client); log("locked: keys wiped"); return }
            close(client)
        }
    }

    func expire() {
        let now = clock()
        for (id, e) in keys where now >= e.expires || now - e.lastUsed >= idle {
            keys[id] = nil
            log("key of vault \(hex(id)) wiped (\(now >= e.expires ? "lifetime" : "idle") limit)")
        }
    }

    enum Outcome { case served, refused, lockedAll }

    func handle(_ fd: Int32) -> Outcome {
        let peer = PeerCredentials.of(fd)
        let uid = peer?.uid ?? UInt32.max
        let pid = peer?.pid ?? 0
        guard peer != nil, uid == geteuid() else {
            log("refused a connection from uid \(uid) (pid \(pid)): not this agent's user")
            return .refused
        }
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard let request = AgentSocket.receive(fd) else { return .refused }
        return request.withUnsafeBytes { req -> Outcome in
            guard let op = AgentProtocol.Operation(rawValue: req[0]) else { reply(fd, [2]); return .refused }
            let idBytes = AgentProtocol.vaultIDBytes
            func vaultID() -> [UInt8]? { req.count >= 1 + idBytes ? Array(req[1..<(1 + idBytes)]) : nil }
            switch op {
            case .get:
                guard req.count == 1 + idBytes, let id = vaultID() else { reply(fd, [2]); return .refused }
                expire()
                guard var e = keys[id] else { reply(fd, [1]); return .served }
                e.lastUsed = clock()
                keys[id] = e
                audit(AgentProtocol.Handout(vaultID: id, auditLog: e.auditLog, peerUID: uid, peerPID: pid,
                                            peerExecutable: Self.procLink(pid, "exe"), peerCommand: Self.procText(pid, "comm")))
                let out = SecretBytes(count: 3 + AgentProtocol.keyBytes)
                out.withUnsafeMutableBytes { o in
                    o[0] = 0; o[1] = e.key.slotKind; o[2] = e.key.slotIndex
                    e.key.master.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: o[3...]).copyMemory(from: $0) }
                }
                _ = out.withUnsafeBytes { AgentSocket.send(fd, $0) }
                return .served
            case .add:
                let n = 1 + idBytes + 2 + AgentProtocol.keyBytes + 4
                guard req.count >= n, req.count <= n + AgentProtocol.maxAuditPath, let id = vaultID() else { reply(fd, [2]); return .refused }
                var auditLog: String? = nil
                if req.count > n {
                    guard let text = String(validating: req[n...], as: UTF8.self), text.hasPrefix("/"), !text.utf8.contains(0) else {
                        reply(fd, [2]); return .refused
                    }
                    auditLog = text
                }
                let keyStart = 1 + idBytes + 2
                let master = SecretBytes(copying: UnsafeRawBufferPointer(rebasing: req[keyStart..<(keyStart + AgentProtocol.keyBytes)]))
                let s = keyStart + AgentProtocol.keyBytes
                let seconds = Int64(UInt32(req[s]) << 24 | UInt32(req[s + 1]) << 16 | UInt32(req[s + 2]) << 8 | UInt32(req[s + 3]))
                let now = clock()
                keys[id] = Entry(key: AgentProtocol.HeldKey(master: master, slotKind: req[1 + idBytes], slotIndex: req[2 + idBytes]),
                                 expires: now + min(max(seconds, 1), maxLifetime), lastUsed: now, auditLog: auditLog)
                everHeld = true
                log("holding the key of vault \(hex(id)) for \(min(max(seconds, 1), maxLifetime)) s (idle limit \(idle) s)")
                reply(fd, [0])
                return .served
            case .lock:
                guard req.count == 1 + idBytes, let id = vaultID() else { reply(fd, [2]); return .refused }
                if id.allSatisfy({ $0 == 0 }) {
                    keys.removeAll()
                    reply(fd, [0])
                    return .lockedAll
                }
                keys[id] = nil
                reply(fd, [0])
                return .served
            case .status:
                expire()
                let now = clock()
                var out: [UInt8] = [0, UInt8(keys.count >> 8), UInt8(keys.count & 0xff)]
                for (id, e) in keys.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
                    out += id
                    for v in [UInt32(max(0, idle - (now - e.lastUsed))), UInt32(max(0, e.expires - now))] {
                        out += [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
                    }
                }
                reply(fd, out)
                return .served
            }
        }
    }

    /// The target of /proc/PID/NAME (a symbolic link), or nil when it cannot be read.
    static func procLink(_ pid: Int32, _ name: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/\(pid)/\(name)", &buf, buf.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The first line of /proc/PID/NAME (at most 255 bytes), or nil.
    static func procText(_ pid: Int32, _ name: String) -> String? {
        let fd = open("/proc/\(pid)/\(name)", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 256)
        let n = read(fd, &buf, 255)
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n].prefix { $0 != 10 }, as: UTF8.self)
    }

    func reply(_ fd: Int32, _ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { AgentSocket.send(fd, $0) } }
}

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
}
