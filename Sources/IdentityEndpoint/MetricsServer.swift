import NIOCore
import NIOHTTP1
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// `GET /metrics` on its own listener (loopback or a Unix socket), apart from the token endpoint: it shares no
/// handler, router or header with it. The text comes from `render`, called per scrape with whether the scraper asked
/// for OpenMetrics (`Accept: application/openmetrics-text`). A request that carries `Origin` (a web page), names a
/// host other than loopback (DNS rebinding), has a body, or asks for anything else is refused.
public final class MetricsServer: Sendable {
    public typealias Render = @Sendable (_ openMetrics: Bool) -> (contentType: String, body: String)

    let group: MultiThreadedEventLoopGroup
    let channel: any Channel
    public let port: Int?

    public init(listen: IdentityServer.Listen, render: @escaping Render) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: .seconds(10)))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(render: render))
                }
            }
        let bound: any Channel
        do {
            switch listen {
            case .tcp(let host, let port):
                bound = try bootstrap.bind(host: host, port: port).wait()
            case .unix(let path):
                let old = umask(0o117)
                defer { umask(old) }
                bound = try bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait()
            case .inherited(let fd):
                bound = try bootstrap.withBoundSocket(fd).wait()
            }
        } catch {
            try? group.syncShutdownGracefully()
            throw IdentityServerError(message: "cannot listen on \(listen.description) for metrics: \(error)")
        }
        self.group = group
        self.channel = bound
        self.port = bound.localAddress?.port
    }

    public func close() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    /// Whether a `Host` header names this machine's loopback (or is absent, as over a Unix socket).
    static func isLoopbackHost(_ host: String?) -> Bool {
        guard var h = host?.lowercased(), !h.isEmpty else { return true }
        if h.hasPrefix("[") { h = String(h.prefix { $0 != "]" }.dropFirst()) } else if let colon = h.firstIndex(of: ":") { h = String(h[..<colon]) }
        return h == "localhost" || h == "::1" || h.hasPrefix("127.")
    }
}

final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let render: MetricsServer.Render
    private var head: HTTPRequestHead?
    private var hasBody = false

    init(render: @escaping MetricsServer.Render) { self.render = render }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            hasBody = false
        case .body:
            hasBody = true
        case .end:
            guard let h = head else { return }
            head = nil
            respond(context: context, to: h)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) } else { context.fireUserInboundEventTriggered(event) }
    }

    func respond(context: ChannelHandlerContext, to h: HTTPRequestHead) {
        let path = h.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? h.uri
        let status: HTTPResponseStatus
        var body = ""
        var type = "text/plain; charset=utf-8"
        if h.headers.contains(name: "Origin") || !MetricsServer.isLoopbackHost(h.headers.first(name: "Host")) {
            status = .forbidden
            body = "metrics are for local scrapers only\n"
        } else if path != "/metrics" {
            status = .notFound
            body = "only /metrics is served here\n"
        } else if h.method != .GET && h.method != .HEAD {
            status = .methodNotAllowed
            body = "use GET\n"
        } else if hasBody {
            status = .badRequest
            body = "a scrape has no body\n"
        } else {
            let accept = h.headers[canonicalForm: "Accept"].map { $0.lowercased() }
            let (t, text) = render(accept.contains { $0.hasPrefix("application/openmetrics-text") })
            status = .ok
            body = text
            type = t
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Cache-Control", value: "no-store")
        if status != .ok { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: h.version, status: status, headers: headers))), promise: nil)
        if h.method != .HEAD {
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let close = status != .ok
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in if close { bound.value.close(promise: nil) } }
    }
}
