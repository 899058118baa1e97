import CCurl
import CCurlShim
import Logging
import Synchronization
import VaultCrypto
#if canImport(Glibc)
import Glibc
import VaultErrors
#endif

/// `HTTPTransport` over libcurl: HTTPS (plain HTTP to loopback only), a CA bundle option, connect and total timeouts,
/// a response-size cap, gzip, proxies from the environment (never for loopback), no redirects, and one easy handle per
/// transport so connections are reused within a process.
public final class CurlTransport: HTTPTransport, @unchecked Sendable {
    // @unchecked: the easy handle is only touched while `lock` is held.
    private let lock = Mutex<Void>(())
    private let handle: UnsafeMutableRawPointer
    public let options: HTTPOptions
    private let logger: Logger?
    /// Loads libcurl (once) and runs curl_global_init; nil on success, else why it failed.
    private static let loadFailure: String? = {
        var buffer = [CChar](repeating: 0, count: 256)
        if vault_curl_load(&buffer, buffer.count) != 0 {
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return vault_curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK ? nil : "curl_global_init failed"
    }()

    public init(options: HTTPOptions, logger: Logger? = nil) throws {
        if let failure = Self.loadFailure {
            throw VaultError("http.init", "cannot load libcurl: \(failure)")
        }
        guard let h = vault_curl_easy_init() else {
            throw VaultError("http.init", "libcurl failed to initialise", context: ["case": "curl"])
        }
        handle = h
        self.options = options
        self.logger = logger
    }

    deinit { vault_curl_easy_cleanup(handle) }

    public func send(_ request: HTTPRequest) throws -> HTTPResponse {
        let scheme = URLParts.scheme(request.url)
        guard scheme == "https" || (scheme == "http" && URLParts.isLoopback(request.url)) else {
            throw TransportFailure.insecure(request.url)
        }
        return try lock.withLock { _ in try perform(request) }
    }

    private func check(_ rc: CURLcode) throws {
        if rc != CURLE_OK { throw VaultError("http.setup", "libcurl option failed: \(String(cString: vault_curl_easy_strerror(rc)))") }
    }

    private func perform(_ request: HTTPRequest) throws -> HTTPResponse {
        vault_curl_easy_reset(handle) // keeps the connection cache
        let sink = ResponseSink(limit: options.maxResponseBytes)
        let context = Unmanaged.passUnretained(sink).toOpaque()
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { vault_curl_slist_free_all(headerList) }
        for (name, value) in request.headers {
            // Defence in depth: whatever built the request, no header may end its line and start another.
            guard HeaderRules.problem(name: name, value: value) == nil else {
                throw VaultError("http.header", "refusing to send the header '\(name)': \(HeaderRules.problem(name: name, value: value)!)")
            }
            headerList = vault_curl_slist_append(headerList, "\(name): \(value)")
        }
        if request.body != nil, request.header("Expect") == nil { headerList = vault_curl_slist_append(headerList, "Expect:") }

        try check(vault_curl_setopt_string(handle, CURLOPT_URL, request.url))
        try check(vault_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        try check(vault_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0))
        try check(vault_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "https,http"))
        try check(vault_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(options.connectTimeout * 1000)))
        try check(vault_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(options.totalTimeout * 1000)))
        try check(vault_curl_setopt_string(handle, CURLOPT_ACCEPT_ENCODING, "gzip"))
        try check(vault_curl_setopt_string(handle, CURLOPT_USERAGENT, options.userAgent))
        try check(vault_curl_setopt_string(handle, CURLOPT_NOPROXY, Self.noProxy))
        if let pem = options.caBundlePEM {
            // Only these CAs: no system CA file or directory besides them.
            try check(vault_curl_setopt_string(handle, CURLOPT_CAPATH, nil))
            try pem.withUnsafeBytes { buf in
                var blob = curl_blob(data: UnsafeMutableRawPointer(mutating: buf.baseAddress), len: buf.count, flags: UInt32(CURL_BLOB_COPY))
                try check(vault_curl_setopt_pointer(handle, CURLOPT_CAINFO_BLOB, &blob))
            }
        } else if let ca = options.caBundle {
            try check(vault_curl_setopt_string(handle, CURLOPT_CAINFO, ca))
        }
        try check(vault_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))
        try check(vault_curl_setopt_write_callback(handle, { data, size, count, ctx in
            Unmanaged<ResponseSink>.fromOpaque(ctx!).takeUnretainedValue().body(data!, size * count)
        }, context))
        try check(vault_curl_setopt_header_callback(handle, { data, size, count, ctx in
            Unmanaged<ResponseSink>.fromOpaque(ctx!).takeUnretainedValue().header(data!, size * count)
        }, context))
        let gate = request.beforeSend.map(SendGate.init)
        if let gate {
            try check(vault_curl_setopt_prereq_callback(handle, { ctx, _, _, _, _ in
                Unmanaged<SendGate>.fromOpaque(ctx!).takeUnretainedValue().open() ? Int32(CURL_PREREQFUNC_OK) : Int32(CURL_PREREQFUNC_ABORT)
            }, Unmanaged.passUnretained(gate).toOpaque()))
        }
        switch request.method {
        case "GET": try check(vault_curl_setopt_long(handle, CURLOPT_HTTPGET, 1))
        case "POST": try check(vault_curl_setopt_long(handle, CURLOPT_POST, 1))
        default: try check(vault_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method))
        }
        logRequest(request)

        let rc: CURLcode
        if let body = request.body {
            // CURLOPT_POSTFIELDS does not copy: the secret buffer stays alive (and in secret memory) until perform returns.
            rc = try body.withUnsafeBytes { buf -> CURLcode in
                try check(vault_curl_setopt_offt(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(buf.count)))
                try check(vault_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, buf.baseAddress))
                defer { _ = vault_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, nil) }
                return vault_curl_easy_perform(handle)
            }
        } else {
            if request.method != "GET" && request.method != "DELETE" {
                try check(vault_curl_setopt_offt(handle, CURLOPT_POSTFIELDSIZE_LARGE, 0))
                try check(vault_curl_setopt_string(handle, CURLOPT_POSTFIELDS, ""))
            }
            rc = vault_curl_easy_perform(handle)
        }
        if let refused = gate?.refusal { throw refused }
        if let gate, !gate.opened, rc == CURLE_OK {
            // Never sent without its check (a libcurl that ignored the option would be a silent hole).
            throw VaultError("http.setup", "libcurl sent a request without calling its pre-request check")
        }
        if sink.tooLarge { throw TransportFailure.tooLarge(request.url, limit: options.maxResponseBytes) }
        guard rc == CURLE_OK else { throw failure(rc, url: request.url) }
        var status = 0
        try check(vault_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status))
        let response = HTTPResponse(status: status, headers: sink.headers, body: sink.data)
        logResponse(request, response)
        return response
    }

    private func failure(_ rc: CURLcode, url: String) -> VaultError {
        let detail = String(cString: vault_curl_easy_strerror(rc))
        switch rc {
        case CURLE_OPERATION_TIMEDOUT: return TransportFailure.timeout(url, seconds: options.totalTimeout)
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM:
            return TransportFailure.tls(url, detail)
        default: return TransportFailure.connect(url, detail)
        }
    }

    /// Loopback never goes through a proxy; the user's own no_proxy list is kept.
    static let noProxy: String = {
        let user = [getenv("no_proxy"), getenv("NO_PROXY")].compactMap { $0.map { String(cString: $0) } }.filter { !$0.isEmpty }
        return (user + ["127.0.0.1", "localhost", "::1"]).joined(separator: ",")
    }()

    /// `-v`: method, URL and headers (secret ones redacted), never a body. `-vv` adds bodies through
    /// `Redaction.logBody` (forms summarised byte by byte from secret memory, JSON with secret members redacted).
    private func logRequest(_ r: HTTPRequest) {
        guard let logger, logger.logLevel <= .debug else { return }
        var lines = ["→ \(r.method) \(Redaction.bearer(r.url))"]
        for (k, v) in r.headers { lines.append("  \(k): \(Redaction.header(k, v))") }
        if let body = r.body {
            if logger.logLevel == .trace {
                lines.append("  body: " + body.withUnsafeBytes { Redaction.logBody($0, contentType: r.header("Content-Type")) })
            } else {
                lines.append("  body: \(body.count) bytes (-vv shows it, redacted)")
            }
        }
        logger.debug("\(lines.joined(separator: "\n"))")
    }

    private func logResponse(_ r: HTTPRequest, _ resp: HTTPResponse) {
        guard let logger, logger.logLevel <= .debug else { return }
        var lines = ["← \(resp.status) \(r.method) \(Redaction.bearer(r.url)) (\(resp.body.count) bytes)"]
        for (k, v) in resp.headers { lines.append("  \(k): \(Redaction.header(k, v))") }
        if logger.logLevel == .trace {
            lines.append("  body: " + resp.body.withUnsafeBytes { Redaction.logBody($0, contentType: resp.header("Content-Type")) })
        }
        logger.debug("\(lines.joined(separator: "\n"))")
    }
}

/// Runs a request's `beforeSend` from libcurl's pre-request callback and keeps what it threw.
final class SendGate {
    let check: BeforeSend
    var refusal: (any Error)?
    var opened = false

    init(_ check: @escaping BeforeSend) { self.check = check }

    func open() -> Bool {
        do {
            try check()
            opened = true
            return true
        } catch {
            refusal = error
            return false
        }
    }
}

/// Collects a response; refuses bodies beyond the limit (returning 0 makes libcurl abort the transfer).
final class ResponseSink {
    var data: [UInt8] = []
    var headers: [(String, String)] = []
    var tooLarge = false
    var headerBytes = 0
    let limit: Int
    static let headerLimit = 256 << 10

    init(limit: Int) { self.limit = limit }

    func body(_ p: UnsafeMutablePointer<CChar>, _ n: Int) -> Int {
        if data.count + n > limit { tooLarge = true; return 0 }
        p.withMemoryRebound(to: UInt8.self, capacity: n) { data.append(contentsOf: UnsafeBufferPointer(start: $0, count: n)) }
        return n
    }

    func header(_ p: UnsafeMutablePointer<CChar>, _ n: Int) -> Int {
        headerBytes += n
        if headerBytes > Self.headerLimit { tooLarge = true; return 0 }
        let line = p.withMemoryRebound(to: UInt8.self, capacity: n) { String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self) }
        if line.hasPrefix("HTTP/") { headers.removeAll(); return n }
        if let colon = line.firstIndex(of: ":") {
            let name = String(line[..<colon])
            let value = line[line.index(after: colon)...].trimmingCharacters(in: " \r\n")
            headers.append((name, value))
        }
        return n
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

/// Creates its transport on the first request, so a command served from the cache never loads libcurl.
public final class LazyTransport: HTTPTransport, @unchecked Sendable {
    // @unchecked: `made` is only touched while `lock` is held.
    private let lock = Mutex<Void>(())
    private var made: (any HTTPTransport)?
    private let make: @Sendable () throws -> any HTTPTransport

    public init(_ make: @escaping @Sendable () throws -> any HTTPTransport) { self.make = make }

    public func send(_ request: HTTPRequest) throws -> HTTPResponse {
        let transport = try lock.withLock { _ -> any HTTPTransport in
            if let made { return made }
            let t = try make()
            made = t
            return t
        }
        return try transport.send(request)
    }
}
