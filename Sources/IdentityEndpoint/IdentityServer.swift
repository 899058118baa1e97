import NIOCore
import NIOHTTP1
import NIOPosix
import VaultCrypto
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
