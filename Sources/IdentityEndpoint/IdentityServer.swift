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
        public var identityHeader: SecretBytes?
        public var servesIMDS: Bool
        public var eventLoopThreads: Int
        public var workerThreads: Int

        public init(listen: Listen, identityHeader: SecretBytes?, servesIMDS: Bool = false, eventLoopThreads: Int = 1, workerThreads: Int = 4) {
            self.listen = listen
            self.identityHeader = identityHeader
            self.servesIMDS = servesIMDS
            self.eventLoopThreads = eventLoopThreads
            self.workerThreads = workerThreads
        }
    }

    let group: MultiThreadedEventLoopGroup
    let pool: NIOThreadPool
    let channel: any Channel
    /// The TCP port listened on (nil for a Unix socket).
    public let port: Int?

    /// Binds and starts serving; throws `IdentityServerError` when the address cannot be used.
    public init(_ configuration: Configuration, source: any IdentityTokenSource, clock: @escaping @Sendable () -> Int64) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.eventLoopThreads))
        let pool = NIOThreadPool(numberOfThreads: max(1, configuration.workerThreads))
        pool.start()
        let router = IdentityRouter(identityHeader: configuration.identityHeader, servesIMDS: configuration.servesIMDS)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 512)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Outbound header validation is off: vault's response headers are constant names and a number.
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true, withOutboundHeaderValidation: false)
                    try channel.pipeline.syncOperations.addHandler(
                        IdentityHTTPHandler(router: router, source: source, pool: pool, clock: clock))
                }
            }
        let bound: any Channel
        do {
            switch configuration.listen {
            case .tcp(let host, let port):
                bound = try bootstrap.childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
                    .bind(host: host, port: port).wait()
            case .unix(let path):
                bound = try bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait()
                chmod(path, 0o660)
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
        self.port = bound.localAddress?.port
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

/// One connection. NIO's pipelining handler delivers the next request only after this one's response ended.
final class IdentityHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    static let maxBody = 16 * 1024

    let router: IdentityRouter
    let source: any IdentityTokenSource
    let pool: NIOThreadPool
    let clock: @Sendable () -> Int64
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    private var scratch: [UInt8] = []

    init(router: IdentityRouter, source: any IdentityTokenSource, pool: NIOThreadPool, clock: @escaping @Sendable () -> Int64) {
        self.router = router
        self.source = source
        self.pool = pool
        self.clock = clock
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
            handle(context: context, head: h)
        }
    }

    private func handle(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let keepAlive = head.isKeepAlive
        if bodyBytes > Self.maxBody {
            respond(context: context, version: head.version, keepAlive: false,
                    result: .failure(IdentityRefusal(status: 413, code: "invalid_request", message: "request body too large")), resource: "")
            return
        }
        let peer: String
        switch context.channel.remoteAddress {
        case .some(.unixDomainSocket): peer = "unix"
        case .some(let a): peer = "\(a.ipAddress ?? "?"):\(a.port ?? 0)"
        case .none: peer = "?"
        }
        let routed = router.route(method: head.method.rawValue, target: head.uri,
                                  headers: head.headers.map { (name: $0.name, value: $0.value) }, peer: peer)
        let request: IdentityRequest
        switch routed {
        case .failure(let refusal):
            respond(context: context, version: head.version, keepAlive: keepAlive, result: .failure(refusal), resource: "")
            return
        case .success(let r): request = r
        }
        do {
            if let token = try source.cachedToken(for: request, now: clock()) {
                respond(context: context, version: head.version, keepAlive: keepAlive, result: .success(token), resource: request.resource)
                return
            }
        } catch {
            respond(context: context, version: head.version, keepAlive: keepAlive, result: .failure(error), resource: request.resource)
            return
        }
        let source = self.source
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let version = head.version
        pool.runIfActive(eventLoop: context.eventLoop) { () throws -> IdentityToken in
            try source.token(for: request)
        }.whenComplete { outcome in
            let (handler, context) = bound.value
            let result: Result<IdentityToken, IdentityRefusal>
            switch outcome {
            case .success(let t): result = .success(t)
            case .failure(let e as IdentityRefusal): result = .failure(e)
            case .failure: result = .failure(IdentityRefusal(status: 503, code: "temporarily_unavailable", message: "the token source is shutting down"))
            }
            handler.respond(context: context, version: version, keepAlive: keepAlive, result: result, resource: request.resource)
        }
    }

    private func respond(context: ChannelHandlerContext, version: HTTPVersion, keepAlive: Bool,
                         result: Result<IdentityToken, IdentityRefusal>, resource: String) {
        let status: HTTPResponseStatus
        scratch.removeAll(keepingCapacity: true)
        switch result {
        case .success(let token):
            status = .ok
            IdentityResponse.success(token, resource: resource, now: clock(), into: &scratch)
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
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let ended = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            ended.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
