import NIOCore
import NIOHTTP1
import NIOPosix
import VaultCrypto
#if canImport(Glibc)
import Glibc
#endif

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
