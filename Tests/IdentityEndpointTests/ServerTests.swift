import FoundationEssentials
import IdentityEndpoint
import Synchronization
import Testing
import VaultCrypto
#if canImport(Glibc)
import Glibc
#endif

/// The in-memory twin of the vault's token source: a fixed token; `slow` requests block until released.
final class MemorySource: IdentityTokenSource {
    let fetches = Atomic<Int>(0)
    let cachedOnly: Bool
    init(cachedOnly: Bool) { self.cachedOnly = cachedOnly }

    func cachedToken(for request: IdentityRequest, now: Int64) throws(IdentityRefusal) -> IdentityToken? {
        if request.resource == "api://refused" { throw IdentityRefusal(status: 403, code: "invalid_resource", message: "not allowed") }
        return cachedOnly || request.resource != "api://slow" ? IdentityToken(token: secret("cached.token"), expiresOn: now + 3600, clientID: "c") : nil
    }

    let released = Atomic<Bool>(false)
    let finished = Atomic<Bool>(false)

    func token(for request: IdentityRequest) throws(IdentityRefusal) -> IdentityToken {
        fetches.add(1, ordering: .relaxed)
        // Blocks its worker thread until the test releases it (at most 10 s).
        for _ in 0..<1000 where !released.load(ordering: .relaxed) { usleep(10_000) }
        finished.store(true, ordering: .relaxed)
        return IdentityToken(token: secret("fetched.token"), expiresOn: Int64(Date().timeIntervalSince1970) + 3600, clientID: "c")
    }
}

struct ConnectFailed: Error {}

/// A blocking HTTP/1.1 client over one TCP connection: enough to test keep-alive and raw bytes.
final class RawClient {
    let fd: Int32
    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if rc != 0 { throw ConnectFailed() }
    }
    deinit { close(fd) }

    func send(_ text: String) { _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }

    /// Reads one response (head and a Content-Length body); nil when the connection closed first.
    func response() -> (status: Int, body: String)? {
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            if let end = find(data, Array("\r\n\r\n".utf8)) {
                let head = String(decoding: data[..<end], as: UTF8.self)
                let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].filter { $0 != " " }) } ?? 0
                if data.count >= end + 4 + length {
                    let status = Int(head.split(separator: " ")[1]) ?? 0
                    return (status, String(decoding: data[(end + 4)..<(end + 4 + length)], as: UTF8.self))
                }
            }
            let n = read(fd, &buf, buf.count)
            if n <= 0 { return nil }
            data.append(contentsOf: buf[0..<n])
        }
    }

    func find(_ hay: [UInt8], _ needle: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where Array(hay[i..<(i + needle.count)]) == needle { return i }
        return nil
    }
}

@Suite("The endpoint over swift-nio: keep-alive, slow fetches off the event loop, hostile bytes")
struct ServerTests {
    static let header = "0123456789abcdef0123456789abcdef"

    func request(_ resource: String, header: String = Self.header, close: Bool = false) -> String {
        "GET /msi/token?api-version=2019-08-01&resource=\(resource) HTTP/1.1\r\nHost: 127.0.0.1\r\nX-IDENTITY-HEADER: \(header)\r\n" +
            (close ? "Connection: close\r\n" : "") + "\r\n"
    }

    @Test("several requests on one connection; a slow fetch on one connection does not delay a cached answer on another")
    func keepAliveAndWorkers() throws {
        let source = MemorySource(cachedOnly: false)
        let server = try IdentityServer(.init(listen: .tcp(host: "127.0.0.1", port: 0), identityHeader: secret(Self.header)),
                                        source: source, clock: { Int64(Date().timeIntervalSince1970) })
        defer { server.close() }
        let port = try #require(server.port)
        let a = try RawClient(port: port)
        for _ in 0..<3 {
            a.send(request("https://graph.microsoft.com"))
            let r = try #require(a.response())
            #expect(r.status == 200 && r.body.contains("\"access_token\":\"cached.token\""))
        }
        let slow = try RawClient(port: port)
        slow.send(request("api://slow"))
        for _ in 0..<1000 where source.fetches.load(ordering: .relaxed) == 0 { usleep(5_000) }
        let started = source.fetches.load(ordering: .relaxed)
        #expect(started == 1)
        a.send(request("https://graph.microsoft.com"))
        #expect(try #require(a.response()).status == 200)
        // The cached answer came back while the fetch was still blocked on its worker thread.
        let finishedEarly = source.finished.load(ordering: .relaxed)
        #expect(!finishedEarly)
        source.released.store(true, ordering: .relaxed)
        let s = try #require(slow.response())
        #expect(s.status == 200 && s.body.contains("fetched.token"))
        let fetches = source.fetches.load(ordering: .relaxed)
        #expect(fetches == 1)
        a.send(request("api://refused", close: true))
        let refused = try #require(a.response())
        #expect(refused.status == 403 && refused.body.contains("\"statusCode\":403"))
        #expect(a.response() == nil, "Connection: close is honoured")
    }

    @Test("past maxPendingFetches, a request that needs a fetch is answered 503 at once instead of queueing; cached ones still 200")
    func fetchCap() throws {
        let source = MemorySource(cachedOnly: false)
        var config = IdentityServer.Configuration(listen: .tcp(host: "127.0.0.1", port: 0), identityHeader: secret(Self.header))
        config.maxPendingFetches = 1
        let server = try IdentityServer(config, source: source, clock: { Int64(Date().timeIntervalSince1970) })
        defer { server.close() }
        let port = try #require(server.port)
        let first = try RawClient(port: port)
        first.send(request("api://slow"))
        for _ in 0..<1000 where source.fetches.load(ordering: .relaxed) == 0 { usleep(5_000) }
        let second = try RawClient(port: port)
        second.send(request("api://slow"))
        let refused = try #require(second.response())
        #expect(refused.status == 503 && refused.body.contains("too many token requests"))
        let cached = try RawClient(port: port)
        cached.send(request("https://graph.microsoft.com"))
        #expect(try #require(cached.response()).status == 200)
        source.released.store(true, ordering: .relaxed)
        #expect(try #require(first.response()).status == 200)
        // The slot is free again once the fetch ended.
        second.send(request("api://slow"))
        #expect(try #require(second.response()).status == 200)
        #expect(source.fetches.load(ordering: .relaxed) == 2)
    }

    @Test("garbage, oversized heads and wrong headers get an error or a closed connection, and the server keeps serving",
          arguments: ["NOT HTTP AT ALL\r\n\r\n", "GET /msi/token HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                      "GET /msi/token?" + String(repeating: "a", count: 100_000) + " HTTP/1.1\r\n\r\n",
                      "\u{0}\u{1}\u{2}\r\n\r\n", "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"])
    func hostile(_ bytes: String) throws {
        let server = try IdentityServer(.init(listen: .tcp(host: "127.0.0.1", port: 0), identityHeader: secret(Self.header)),
                                        source: MemorySource(cachedOnly: true), clock: { Int64(Date().timeIntervalSince1970) })
        defer { server.close() }
        let port = try #require(server.port)
        let bad = try RawClient(port: port)
        bad.send(bytes)
        if let r = bad.response() { #expect(r.status >= 400) }
        let good = try RawClient(port: port)
        good.send(request("https://graph.microsoft.com"))
        #expect(try #require(good.response()).status == 200)
        let wrong = try RawClient(port: port)
        wrong.send(request("https://graph.microsoft.com", header: "nope"))
        #expect(try #require(wrong.response()).status == 401)
    }

    @Test("a Unix-socket listener is created 0660, and a port in use is a clear error")
    func listeners() throws {
        let dir = "/tmp/vault-mi-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(dir, 0o700)
        defer { unlink(dir + "/s"); rmdir(dir) }
        let server = try IdentityServer(.init(listen: .unix(path: dir + "/s"), identityHeader: secret(Self.header)),
                                        source: MemorySource(cachedOnly: true), clock: { 0 })
        var st = stat()
        #expect(stat(dir + "/s", &st) == 0 && st.st_mode & 0o777 == 0o660)
        let tcp = try IdentityServer(.init(listen: .tcp(host: "127.0.0.1", port: 0), identityHeader: secret(Self.header)),
                                     source: MemorySource(cachedOnly: true), clock: { 0 })
        defer { tcp.close(); server.close() }
        #expect(throws: IdentityServerError.self) {
            try IdentityServer(.init(listen: .tcp(host: "127.0.0.1", port: tcp.port!), identityHeader: nil), source: MemorySource(cachedOnly: true), clock: { 0 })
        }
    }
}
