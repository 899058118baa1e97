import EmulatorDirectory
import CompressNIO
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Hummingbird request context that keeps the channel, so a fault can drop the connection.
public struct EmulatorContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Routes every request: admin, faults, Entra ID, Graph. Adds each service's headers and gzip.
struct EmulatorResponder: HTTPResponder {
    typealias Context = EmulatorContext
    let core: EmulatorCore
    let entra: EntraEndpoints
    let users: GraphUsers
    let applications: GraphApplications
    let directoryObjects: GraphDirectoryObjects
    let federated: GraphFederatedCredentials
    let admin: AdminEndpoints

    init(core: EmulatorCore) {
        self.core = core
        entra = EntraEndpoints(core: core)
        users = GraphUsers(core: core)
        applications = GraphApplications(core: core)
        directoryObjects = GraphDirectoryObjects(core: core)
        federated = GraphFederatedCredentials(core: core)
        admin = AdminEndpoints(core: core)
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName.lowercased()] = field.value }
        let buffer = try await request.body.collect(upTo: 4 << 20)
        let rawQuery = request.uri.query ?? ""
        let exchange = Exchange(method: request.method.rawValue, path: request.uri.path, rawQuery: rawQuery,
                                query: Exchange.parseQuery(rawQuery), headers: headers, body: Data(buffer: buffer))
        let reply = await route(exchange, context: context)
        return finish(reply, for: exchange)
    }

    func route(_ x: Exchange, context: Context) async -> Reply {
        let requestID = GUID.make()
        if x.path.hasPrefix("/_emulator/") { return await admin.handle(x) }
        var answerWith504 = false
        var answerKeyID: String?
        if let fault = await core.state.takeFault(path: x.path) {
            if fault.mode == .commitThen504 {
                answerWith504 = true
            } else if fault.mode == .answerKeyID {
                answerKeyID = fault.keyID
            } else if let reply = await inject(fault, x, requestID: requestID, context: context) {
                await core.state.record(method: x.method, path: x.path, status: reply.status, clientRequestID: x.clientRequestID,
                                       query: x.rawQuery.isEmpty || x.path.contains("/token") ? nil : x.rawQuery,
                                       consistencyLevel: x.headers["consistencylevel"])
                return reply
            }
        }
        var reply: Reply
        if x.path == "/v1.0" || x.path.hasPrefix("/v1.0/") {
            await core.state.countGraph(path: x.path)
            reply = await graph(x, requestID: requestID)
        } else if let r = await entra.handle(x) {
            reply = r
        } else {
            reply = .json(404, ["error": "not_found", "error_description": "No such endpoint: \(x.path)"], flavor: .entra)
        }
        if let keyID = answerKeyID, var json = (try? JSONSerialization.jsonObject(with: reply.body)) as? [String: Any], json["keyId"] != nil {
            json["keyId"] = keyID
            reply.body = (try? JSONSerialization.data(withJSONObject: json)) ?? reply.body
        }
        if answerWith504 {
            reply = x.path.hasPrefix("/v1.0")
                ? .graphError(GraphError(status: 504, code: "gatewayTimeout", message: "The gateway timed out."), requestID: requestID, clientRequestID: x.clientRequestID)
                : entra.entraError(x, status: 504, error: "temporarily_unavailable", code: 50001, text: "The gateway timed out.")
        }
        if reply.flavor == .graph { reply.headers.append(("request-id", requestID)) }
        await core.state.record(method: x.method, path: x.path, status: reply.status, clientRequestID: x.clientRequestID,
                                       query: x.rawQuery.isEmpty || x.path.contains("/token") ? nil : x.rawQuery,
                                       consistencyLevel: x.headers["consistencylevel"])
        return reply
    }

    func graph(_ x: Exchange, requestID: String) async -> Reply {
        do {
            let caller = try await GraphAuth.authenticate(x, core: core)
            let rest = String(x.path.dropFirst("/v1.0".count))
            if rest == "/users" || rest.hasPrefix("/users/") || rest.hasPrefix("/users(") {
                return try users.handle(x, caller: caller, rest: String(rest.dropFirst("/users".count)), linkBase: await core.state.nextLinkBase,
                                        emptyPages: await core.state.emptyPages)
            }
            if rest == "/applications" || rest == "/servicePrincipals" {
                let collection: DirectoryObjectsQuery.Collection = rest == "/applications" ? .applications : .servicePrincipals
                if collection == .applications, x.queryValue("$filter") != nil {
                    return try await applications.handle(x, caller: caller, rest: "")
                }
                return try await directoryObjects.list(x, caller: caller, collection: collection)
            }
            if rest == "/applications/$count" || rest == "/servicePrincipals/$count" {
                return try await directoryObjects.count(x, caller: caller, collection: rest.hasPrefix("/applications") ? .applications : .servicePrincipals)
            }
            if rest.hasPrefix("/applications"), let marker = rest.range(of: "/federatedIdentityCredentials") {
                let inner = String(rest[rest.index(rest.startIndex, offsetBy: "/applications".count)..<marker.lowerBound])
                let tail = rest[marker.upperBound...].split(separator: "/").map(String.init)
                guard tail.count <= 1 else { throw GraphError.badRequest("Resource not found for the segment '\(tail[1])'.") }
                let byAppID = inner.lowercased().hasPrefix("(appid='") && inner.hasSuffix("')")
                let key = byAppID ? String(inner.dropFirst(8).dropLast(2)) : String(inner.dropFirst())
                // The synthetic applications (`--applications N`) are read-only.
                if tail.isEmpty, x.method == "GET", let r = try await directoryObjects.federated(x, caller: caller, key: key, byAppID: byAppID) { return r }
                return try await federated.handle(x, caller: caller, appKey: key, byAppID: byAppID, item: tail.first)
            }
            if rest == "/applications" || rest.hasPrefix("/applications/") || rest.hasPrefix("/applications(") {
                return try await applications.handle(x, caller: caller, rest: String(rest.dropFirst("/applications".count)))
            }
            let segment = rest.split(separator: "/").first.map(String.init) ?? ""
            throw GraphError.badRequest("Resource not found for the segment '\(segment)'.")
        } catch let e as GraphError {
            return .graphError(e, requestID: requestID, clientRequestID: x.clientRequestID)
        } catch {
            return .graphError(GraphError(status: 500, code: "generalException", message: "\(error)"), requestID: requestID,
                               clientRequestID: x.clientRequestID)
        }
    }

    /// Applies an injected fault; nil means "carry on normally" (after a stall).
    func inject(_ f: Fault, _ x: Exchange, requestID: String, context: Context) async -> Reply? {
        let isGraph = x.path.hasPrefix("/v1.0")
        switch f.mode {
        case .status429:
            if isGraph {
                var r = Reply.json(429, ["error": ["code": "TooManyRequests", "message": "Please retry again later.",
                                                   "innerError": ["code": "429", "date": GraphTime.innerErrorDate(Date()),
                                                                  "message": "Please retry after", "request-id": requestID, "status": "429"]]])
                if let ra = f.retryAfter { r.headers.append(("Retry-After", ra)) }
                return r
            }
            var r = entra.entraError(x, status: 429, error: "temporarily_unavailable", code: 50196,
                                     text: "The server terminated an operation because it encountered a client request loop.")
            if let ra = f.retryAfter { r.headers.append(("Retry-After", ra)) }
            return r
        case .status429Text:
            var r = Reply(status: 429, headers: [("Content-Type", "text/plain")], body: Data("Too Many Requests".utf8), flavor: .plain)
            if let ra = f.retryAfter { r.headers.append(("Retry-After", ra)) }
            return r
        case .commitThen504, .answerKeyID:
            return nil
        case .status503, .status504, .status500:
            let status = Int(f.mode.rawValue)!
            var r: Reply
            if isGraph {
                r = .graphError(GraphError(status: status, code: status == 503 ? "serviceNotAvailable" : status == 504 ? "gatewayTimeout" : "generalException",
                                           message: "The service is temporarily unavailable."), requestID: requestID, clientRequestID: x.clientRequestID)
            } else {
                r = entra.entraError(x, status: status, error: "temporarily_unavailable", code: 50001,
                                     text: "The service is temporarily unavailable.")
            }
            if let ra = f.retryAfter { r.headers.append(("Retry-After", ra)) }
            return r
        case .status403:
            return .graphError(.denied, requestID: requestID, clientRequestID: x.clientRequestID)
        case .unsupportedQuery:
            return .graphError(.unsupported("Unsupported Query."), requestID: requestID, clientRequestID: x.clientRequestID)
        case .html:
            return Reply(status: 502, headers: [("Content-Type", "text/html")],
                         body: Data("<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1><p>proxy error</p></body></html>".utf8),
                         flavor: .plain)
        case .stall:
            try? await Task.sleep(for: .milliseconds(Int((f.stallSeconds ?? 30) * 1000)))
            return nil
        case .drop:
            _ = try? await context.channel.close()
            return Reply(status: 500, flavor: .plain)
        }
    }

    /// zlib level 1: the emulator must not be what limits a client benchmark.
    static let gzipFast: ZlibConfiguration = {
        var c = ZlibConfiguration()
        c.compressionLevel = 1
        return c
    }()

    func finish(_ reply: Reply, for x: Exchange) -> Response {
        var fields = HTTPFields()
        func add(_ name: String, _ value: String) {
            if let n = HTTPField.Name(name) { fields.append(HTTPField(name: n, value: value)) }
        }
        for (k, v) in reply.headers { add(k, v) }
        var body = reply.body
        switch reply.flavor {
        case .graph:
            let requestID = reply.headers.first { $0.0 == "request-id" }?.1 ?? GUID.make()
            add("client-request-id", x.clientRequestID ?? requestID)
            add("Cache-Control", "no-cache")
            add("OData-Version", "4.0")
            add("x-ms-ags-diagnostic", "{\"ServerInfo\":{\"DataCenter\":\"Emulator\",\"Slice\":\"E\",\"Ring\":\"5\",\"ScaleUnit\":\"000\",\"RoleInstance\":\"VAULT-EMU\"}}")
            add("x-ms-resource-unit", "1")
            add("Strict-Transport-Security", "max-age=31536000")
            if !body.isEmpty, (x.headers["accept-encoding"] ?? "").lowercased().contains("gzip") {
                let plain = body
                let compress = { () -> Data? in
                    var buffer = ByteBuffer(data: plain)
                    return (try? buffer.compress(with: .gzip(configuration: Self.gzipFast))).map { Data(buffer: $0) }
                }
                if let compressed = reply.cacheKey.map({ core.cachedGzip($0, make: compress) }) ?? compress() {
                    body = compressed
                    add("Content-Encoding", "gzip")
                    add("Vary", "Accept-Encoding")
                }
            }
        case .entra:
            add("Cache-Control", "no-store, no-cache")
            add("Pragma", "no-cache")
            add("x-ms-request-id", reply.headers.first { $0.0 == "request-id" }?.1 ?? GUID.make())
            if let c = x.clientRequestID { add("client-request-id", c) }
            add("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        case .plain:
            break
        }
        return Response(status: .init(code: reply.status), headers: fields, body: .init(byteBuffer: ByteBuffer(data: body)))
    }
}
