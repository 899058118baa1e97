import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import VaultCrypto
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// The managed-identity endpoint over swift-nio's HTTP/1 server: App Service and, optionally, IMDS on one listener.
/// Tokens come from the `IdentityTokenSource` it is handed; a cached token is answered on the event loop, a fetch runs
/// on a worker thread so a slow Entra round trip never stalls other clients.
public final class IdentityServer: Sendable {
    public enum Listen: Sendable, Equatable {
        /// A TCP address; port 0 picks a free one (see `port`).
        case tcp(host: String, port: Int)
        /// A Unix socket path, created 0660 (the directory decides who may reach it).
        case unix(path: String)
        /// A socket already bound and listening (systemd socket activation, `LISTEN_FDS`).
        case inherited(descriptor: Int32)
    }

    public struct Configuration: Sendable {
        public var listen: Listen
        /// The App Service `X-IDENTITY-HEADER` (nil: App Service is not served).
        public var identityHeader: IdentityHeaderSecret?
        public var servesIMDS: Bool
        public var eventLoopThreads: Int
        public var workerThreads: Int
        /// Connections held at once; past it, a new connection closes the longest-idle one that never sent a valid
        /// request (so holders of the header keep being served while others hold the rest), else it is closed itself.
        public var maxConnections: Int
        /// Seconds a request may take to arrive whole, from its first byte (and a new connection to start one).
        public var requestTimeout: Int64
        /// Seconds an idle keep-alive connection is kept.
        public var idleTimeout: Int64
        /// Token fetches queued or running at once; past it, requests are answered 503 at once.
        public var maxPendingFetches: Int

        public init(listen: Listen, identityHeader: SecretBytes?, servesIMDS: Bool = false, eventLoopThreads: Int = 1, workerThreads: Int = 4) {
            self.init(listen: listen, header: identityHeader.map(IdentityHeaderSecret.init), servesIMDS: servesIMDS,
                      eventLoopThreads: eventLoopThreads, workerThreads: workerThreads)
        }

        public init(listen: Listen, header: IdentityHeaderSecret?, servesIMDS: Bool = false, eventLoopThreads: Int = 1, workerThreads: Int = 4) {
            self.listen = listen
            self.identityHeader = header
            self.servesIMDS = servesIMDS
            self.eventLoopThreads = eventLoopThreads
            self.workerThreads = workerThreads
            self.maxConnections = Self.defaultMaxConnections()
            self.requestTimeout = 10
            self.idleTimeout = 30
            self.maxPendingFetches = 64
        }

        /// 256, or half of `RLIMIT_NOFILE` when that is lower (the rest is for the vault's own files and Entra).
        public static func defaultMaxConnections() -> Int {
            var limit = rlimit()
            guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return 256 }
            return max(8, min(256, Int(limit.rlim_cur) / 2))
        }
    }

    let group: MultiThreadedEventLoopGroup
    let pool: NIOThreadPool
    let channel: any Channel
    let connections: ConnectionTable
    /// The TCP port listened on (nil for a Unix socket).
    public let port: Int?

    /// Binds and starts serving; throws `IdentityServerError` when the address cannot be used.
    public init(_ configuration: Configuration, source: any IdentityTokenSource, clock: @escaping @Sendable () -> Int64) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.eventLoopThreads))
        let pool = NIOThreadPool(numberOfThreads: max(1, configuration.workerThreads))
        pool.start()
        let router = IdentityRouter(identityHeader: configuration.identityHeader, servesIMDS: configuration.servesIMDS)
        let connections = ConnectionTable(limit: max(1, configuration.maxConnections))
        let fetches = FetchGate(limit: max(1, configuration.maxPendingFetches))
        let timeouts = (request: TimeAmount.seconds(configuration.requestTimeout), idle: TimeAmount.seconds(configuration.idleTimeout))
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 512)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let tracker = ConnectionTracker(table: connections, requestTimeout: timeouts.request, idleTimeout: timeouts.idle)
                    try channel.pipeline.syncOperations.addHandler(tracker)
                    // Outbound header validation is off: vault's response headers are constant names and a number.
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true, withOutboundHeaderValidation: false)
                    try channel.pipeline.syncOperations.addHandler(
                        IdentityHTTPHandler(router: router, source: source, pool: pool, clock: clock, tracker: tracker, fetches: fetches))
                }
            }
        let bound: any Channel
        do {
            switch configuration.listen {
            case .tcp(let host, let port):
                bound = try bootstrap.childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
                    .bind(host: host, port: port).wait()
            case .unix(let path):
                // Created 0660 by bind itself (umask 0117 around it), as the agent's socket is: no window in which
                // another user could connect before a chmod.
                let old = umask(0o117)
                defer { umask(old) }
                bound = try bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait()
            case .inherited(let fd):
                bound = try bootstrap.withBoundSocket(fd).wait()
            }
        } catch {
            try? group.syncShutdownGracefully()
            try? pool.syncShutdownGracefully()
            throw IdentityServerError(message: "cannot listen on \(configuration.listen.description): \(error)")
        }
        self.group = group
        self.pool = pool
        self.channel = bound
        self.connections = connections
        self.port = bound.localAddress?.port
    }

    /// Connections open now.
    public var openConnections: Int { connections.count }

    /// What an inherited socket (systemd's `LISTEN_FDS`) listens on, refused unless it is a listening stream socket on
    /// a loopback address or a Unix socket: a unit written `ListenStream=8765` listens on every interface.
    public static func checkInherited(_ fd: Int32) throws -> String {
        var type: Int32 = 0, listening: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 else {
            throw IdentityServerError(message: "descriptor \(fd) from systemd is not a socket")
        }
        len = socklen_t(MemoryLayout<Int32>.size)
        guard type == Int32(SOCK_STREAM.rawValue), getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0, listening == 1 else {
            throw IdentityServerError(message: "the socket systemd passed is not a listening stream socket (use ListenStream=)")
        }
        var storage = sockaddr_storage()
        len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        guard rc == 0 else { throw IdentityServerError(message: "cannot read the address of the socket systemd passed") }
        switch Int32(storage.ss_family) {
        case AF_UNIX:
            // systemd creates it with SocketMode= (0666 by default): a socket others can connect to serves them tokens.
            let path: String? = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { p in
                withUnsafeBytes(of: p.pointee.sun_path) { raw -> String? in
                    guard let first = raw.first, first != 0 else { return nil }  // unnamed, or the abstract namespace
                    return String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
            } }
            guard let path else {
                throw IdentityServerError(message: "the Unix socket systemd passed has no path (an abstract socket has no permissions: any local process could connect)")
            }
            var st = stat()
            guard stat(path, &st) == 0 else { throw IdentityServerError(message: "cannot check the Unix socket \(path) systemd passed") }
            guard st.st_mode & 0o007 == 0 else {
                throw IdentityServerError(message: "the Unix socket \(path) systemd passed can be reached by every local user (mode \(String(st.st_mode & 0o777, radix: 8))): set SocketMode=0660 (and SocketGroup=) in the socket unit")
            }
            return "unix:\(path)"
        case AF_INET:
            let (addr, port) = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                (UInt32(bigEndian: $0.pointee.sin_addr.s_addr), UInt16(bigEndian: $0.pointee.sin_port)) } }
            let text = "\(addr >> 24).\(addr >> 16 & 255).\(addr >> 8 & 255).\(addr & 255):\(port)"
            guard addr >> 24 == 127 else {
                throw IdentityServerError(message: "the socket systemd passed listens on \(text), not on loopback: tokens would be served to other hosts")
            }
            return text
        case AF_INET6:
            let (bytes, port) = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                (withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) }, UInt16(bigEndian: p.pointee.sin6_port)) } }
            let loopback = bytes == Array(repeating: 0, count: 15) + [1]
            let mappedLoopback = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff && bytes[12] == 127
            guard loopback || mappedLoopback else {
                throw IdentityServerError(message: "the socket systemd passed listens on an IPv6 address other than [::1] (port \(port)): tokens would be served to other hosts")
            }
            return "[::1]:\(port)"
        default:
            throw IdentityServerError(message: "the socket systemd passed is neither a TCP nor a Unix socket")
        }
    }

    /// Stops accepting, closes the listener and every connection, and stops the threads.
    public func close() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
        try? pool.syncShutdownGracefully()
    }
}

public struct IdentityServerError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

extension IdentityServer.Listen: CustomStringConvertible {
    public var description: String {
        switch self {
        case .tcp(let host, let port): return "\(host):\(port)"
        case .unix(let path): return "unix:\(path)"
        case .inherited(let fd): return "the inherited socket (fd \(fd))"
        }
    }
}

/// The connections of one server, across its event loops: a cap, and which connection gives way when it is reached.
final class ConnectionTable: Sendable {
    struct Entry {
        let channel: any Channel
        /// It sent a request the router accepted (for App Service: with the right header).
        var trusted = false
        /// A request of it is being answered.
        var busy = false
        var since: UInt64
    }

    let limit: Int
    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])

    init(limit: Int) { self.limit = limit }

    var count: Int { entries.withLock { $0.count } }

    /// Registers a connection. When the table is full, the idle connection that never sent an accepted request and
    /// was idle longest is closed to make room (then the longest-idle trusted one); false when every connection is
    /// busy, and the new one is to be closed.
    func admit(_ id: ObjectIdentifier, _ channel: any Channel) -> Bool {
        let now = DispatchTime.now().uptimeNanoseconds
        let (admitted, victim) = entries.withLock { e -> (Bool, (any Channel)?) in
            var victim: (any Channel)?
            if e.count >= limit {
                guard let v = e.filter({ !$0.value.busy }).min(by: { ($0.value.trusted ? 1 : 0, $0.value.since) < ($1.value.trusted ? 1 : 0, $1.value.since) }) else {
                    return (false, nil)
                }
                e[v.key] = nil
                victim = v.value.channel
            }
            e[id] = Entry(channel: channel, since: now)
            return (true, victim)
        }
        victim?.close(promise: nil)
        return admitted
    }

    func update(_ id: ObjectIdentifier, busy: Bool, trusted: Bool = false) {
        let now = DispatchTime.now().uptimeNanoseconds
        entries.withLock { e in
            guard var entry = e[id] else { return }
            entry.busy = busy
            entry.trusted = entry.trusted || trusted
            entry.since = now
            e[id] = entry
        }
    }

    func remove(_ id: ObjectIdentifier) { entries.withLock { _ = $0.removeValue(forKey: id) } }
}

/// `struct ucred` (pid_t, uid_t, gid_t), as `SO_PEERCRED` fills it.
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// Token fetches queued or running: past the limit a request is answered 503 at once instead of queueing.
final class FetchGate: Sendable {
    let limit: Int
    private let running = Atomic<Int>(0)
    init(limit: Int) { self.limit = limit }

    func enter() -> Bool {
        if running.wrappingAdd(1, ordering: .relaxed).newValue > limit {
            running.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func leave() { running.wrappingSubtract(1, ordering: .relaxed) }
}

/// First in each connection's pipeline (raw bytes): registers it with the table and closes it when a request takes
/// longer than `requestTimeout` to arrive from its first byte (slowloris), a new connection sends nothing for as long,
/// or a keep-alive connection stays idle past `idleTimeout`.
final class ConnectionTracker: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let table: ConnectionTable
    let requestTimeout: TimeAmount
    let idleTimeout: TimeAmount
    private var deadline: Scheduled<Void>?
    private var receiving = false
    private var busy = false
    private var bytesWhileBusy = false
    private weak var channel: (any Channel)?

    init(table: ConnectionTable, requestTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.table = table
        self.requestTimeout = requestTimeout
        self.idleTimeout = idleTimeout
    }

    var id: ObjectIdentifier { ObjectIdentifier(self) }

    func channelActive(context: ChannelHandlerContext) {
        channel = context.channel
        guard table.admit(id, context.channel) else {
            context.close(promise: nil)
            return
        }
        receiving = true
        arm(context.eventLoop, requestTimeout)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        table.remove(id)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if busy {
            bytesWhileBusy = true
        } else if !receiving {
            receiving = true
            arm(context.eventLoop, requestTimeout)
        }
        context.fireChannelRead(data)
    }

    /// A whole request arrived: no deadline while it is answered.
    func requestReceived() {
        receiving = false
        busy = true
        deadline?.cancel()
        deadline = nil
        table.update(id, busy: true)
    }

    /// The response was written; `trusted`: the request was accepted.
    func responseSent(on loop: any EventLoop, trusted: Bool) {
        busy = false
        table.update(id, busy: false, trusted: trusted)
        if bytesWhileBusy {
            bytesWhileBusy = false
            receiving = true
            arm(loop, requestTimeout)
        } else {
            arm(loop, idleTimeout)
        }
    }

    private func arm(_ loop: any EventLoop, _ after: TimeAmount) {
        deadline?.cancel()
        let bound = NIOLoopBound(self, eventLoop: loop)
        deadline = loop.scheduleTask(in: after) {
            let tracker = bound.value
            guard !tracker.busy else { return }
            tracker.channel?.close(promise: nil)
        }
    }
}

/// One connection. NIO's pipelining handler delivers the next request only after this one's response ended.
final class IdentityHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    static let maxBody = 16 * 1024

    let router: IdentityRouter
    let source: any IdentityTokenSource
    let pool: NIOThreadPool
    let clock: @Sendable () -> Int64
    let tracker: ConnectionTracker
    let fetches: FetchGate
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    private var scratch: [UInt8] = []
    private var peer: IdentityPeer = "?"
    private var localPort: Int?

    init(router: IdentityRouter, source: any IdentityTokenSource, pool: NIOThreadPool, clock: @escaping @Sendable () -> Int64,
         tracker: ConnectionTracker, fetches: FetchGate) {
        self.router = router
        self.source = source
        self.pool = pool
        self.clock = clock
        self.tracker = tracker
        self.fetches = fetches
    }

    func channelActive(context: ChannelHandlerContext) {
        switch context.channel.remoteAddress {
        case .some(.unixDomainSocket):
            peer = "unix"
            localPort = nil
            // Who is on the other end, read once from the kernel (SO_PEERCRED) for the audit log.
            if let provider = context.channel as? any SocketOptionProvider {
                let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
                let future: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
                future.whenSuccess { cred in
                    bound.value.peer = IdentityPeer(address: "unix", uid: cred.uid, pid: cred.pid, command: Self.command(of: cred.pid))
                }
            }
        case .some(let a):
            peer = IdentityPeer(address: "\(a.ipAddress ?? "?"):\(a.port ?? 0)")
            localPort = context.channel.localAddress?.port
        case .none:
            peer = "?"
            localPort = context.channel.localAddress?.port
        }
        context.fireChannelActive()
    }

    /// /proc/PID/comm (at most 16 bytes), for the audit log.
    static func command(of pid: Int32) -> String? {
        let fd = open("/proc/\(pid)/comm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 32)
        let n = read(fd, &buf, buf.count)
        guard n > 0 else { return nil }
        var text = buf[..<n]
        if text.last == 0x0a { text.removeLast() }
        return String(decoding: text, as: UTF8.self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            bodyBytes = 0
        case .body(let b):
            bodyBytes += b.readableBytes
        case .end:
            guard let h = head else { return }
            head = nil
            tracker.requestReceived()
            // On a fresh stack: writing one response's end makes NIO hand over the next pipelined request at once,
            // and answering that one inside this call would nest one frame per queued request (a stack overflow
            // with thousands pipelined behind a fetch).
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.execute {
                let (handler, context) = bound.value
                handler.handle(context: context, head: h)
            }
        }
    }

    /// A client that does not read its answers stops being read from (backpressure), instead of vault queueing
    /// answers for it without limit.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        context.channel.setOption(ChannelOptions.autoRead, value: context.channel.isWritable).whenFailure { _ in }
        context.fireChannelWritabilityChanged()
    }

    private func handle(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let keepAlive = head.isKeepAlive
        if bodyBytes > Self.maxBody {
            respond(context: context, version: head.version, keepAlive: false,
                    result: .failure(IdentityRefusal(status: 413, code: "invalid_request", message: "request body too large")), resource: "")
            return
        }
        let routed = router.route(method: head.method.rawValue, target: head.uri,
                                  headers: head.headers.map { (name: $0.name, value: $0.value) }, peer: peer, localPort: localPort)
        let request: IdentityRequest
        switch routed {
        case .failure(let refusal):
            // A request the router refuses (no or a wrong header, a browser's, another Host) ends the connection.
            respond(context: context, version: head.version, keepAlive: false, result: .failure(refusal), resource: "")
            return
        case .success(let r): request = r
        }
        do {
            // A token whose memory was reused meanwhile is a miss.
            if let token = try source.cachedToken(for: request, now: clock()),
               respond(context: context, version: head.version, keepAlive: keepAlive, result: .success(token), resource: request.resource) {
                return
            }
        } catch {
            respond(context: context, version: head.version, keepAlive: keepAlive, result: .failure(error), resource: request.resource, trusted: true)
            return
        }
        guard fetches.enter() else {
            respond(context: context, version: head.version, keepAlive: keepAlive,
                    result: .failure(IdentityRefusal(status: 503, code: "temporarily_unavailable", message: "too many token requests at once; try again")),
                    resource: request.resource, trusted: true)
            return
        }
        let source = self.source
        let fetches = self.fetches
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let version = head.version
        pool.runIfActive(eventLoop: context.eventLoop) { () throws -> IdentityToken in
            try source.token(for: request)
        }.whenComplete { outcome in
            fetches.leave()
            let (handler, context) = bound.value
            let result: Result<IdentityToken, IdentityRefusal>
            switch outcome {
            case .success(let t): result = .success(t)
            case .failure(let e as IdentityRefusal): result = .failure(e)
            case .failure: result = .failure(IdentityRefusal(status: 503, code: "temporarily_unavailable", message: "the token source is shutting down"))
            }
            if !handler.respond(context: context, version: version, keepAlive: keepAlive, result: result, resource: request.resource) {
                handler.respond(context: context, version: version, keepAlive: keepAlive,
                                result: .failure(IdentityRefusal(status: 503, code: "temporarily_unavailable", message: "the token was replaced; try again")),
                                resource: request.resource, trusted: true)
            }
        }
    }

    /// Writes the response; false (nothing written) when a token's memory was reused before it could be read.
    @discardableResult
    private func respond(context: ChannelHandlerContext, version: HTTPVersion, keepAlive: Bool,
                         result: Result<IdentityToken, IdentityRefusal>, resource: String, trusted: Bool = false) -> Bool {
        let status: HTTPResponseStatus
        scratch.removeAll(keepingCapacity: true)
        switch result {
        case .success(let token):
            status = .ok
            guard IdentityResponse.success(token, resource: resource, now: clock(), into: &scratch) else { return false }
        case .failure(let refusal):
            status = HTTPResponseStatus(statusCode: refusal.status)
            scratch = IdentityResponse.failure(refusal)
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        headers.add(name: "Content-Length", value: String(scratch.count))
        headers.add(name: "Cache-Control", value: "no-store")
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        var buffer = context.channel.allocator.buffer(capacity: scratch.count)
        buffer.writeBytes(scratch)
        // The token's copy in `scratch` is zeroed here; NIO's buffer goes back to the allocator unwiped (SECURITY.md).
        scratch.withUnsafeMutableBytes { if let base = $0.baseAddress { memset(base, 0, $0.count) } }
        // Before the writes: ending this response may hand the next pipelined request to this handler at once.
        let accepted: Bool
        if case .success = result { accepted = true } else { accepted = trusted }
        tracker.responseSent(on: context.eventLoop, trusted: accepted)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let ended = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            ended.whenComplete { _ in channel.close(promise: nil) }
        }
        return true
    }
}
