import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import SwiftASN1
import Synchronization
import X509
import _CryptoExtras

/// A tiny external OIDC issuer for the emulator's federated-credential tests: HTTPS on 127.0.0.1 with a CA the test
/// makes (written to `caPath` for `issuer_ca`), serving a discovery document and a JWKS it can change at will, and
/// signing tokens with keys the test makes. It runs on its own NIO event loop, never on the cooperative pool.
final class TestIssuer: Sendable {
    struct Document: Sendable {
        var status: Int
        var contentType: String
        var body: [UInt8]
    }

    struct Key: Sendable {
        var kid: String
        var key: _RSA.Signing.PrivateKey
        var use: String? = "sig"
    }

    let group: MultiThreadedEventLoopGroup
    let channel: any Channel
    let port: Int
    let caPath: String
    let caPEM: String
    /// `https://127.0.0.1:PORT/oidc`: the issuer URL (a path, as OpenBao's `…/v1/identity/oidc`).
    let issuer: String
    let signingKey: Key
    private let documents = Mutex<[String: Document]>([:])
    private let hits = Mutex<[String: Int]>([:])

    init(directory: String) throws {
        let tls = try Self.tlsMaterial()
        caPEM = tls.caPEM
        caPath = directory + "/issuer-ca-\(UUID().uuidString).pem"
        try Data(tls.caPEM.utf8).write(to: URL(fileURLWithPath: caPath))
        var config = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(tls.certificatePEM.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(tls.keyPEM.utf8), format: .pem)))
        config.applicationProtocols = ["http/1.1"]
        let context = try NIOSSLContext(configuration: config)
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let box = Routes()
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(IssuerHTTPHandler(routes: box))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        port = channel.localAddress?.port ?? 0
        issuer = "https://127.0.0.1:\(port)/oidc"
        signingKey = Key(kid: "key-1", key: try _RSA.Signing.PrivateKey(keySize: .bits2048))
        box.issuer = self
        serveDiscovery()
        publish([signingKey])
    }

    private let stopped = Mutex(false)

    /// Closes the server and its event loop, once (a second call, as from deinit after `stop()`, does nothing).
    func stop() {
        let first = stopped.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    deinit { stop() }

    // MARK: documents

    /// Serves `body` at `path` with `status` (0: accept the request and never answer).
    func serve(_ path: String, status: Int = 200, contentType: String = "application/json", body: [UInt8]) {
        documents.withLock { $0[path] = Document(status: status, contentType: contentType, body: body) }
    }

    func serve(_ path: String, json: [String: Any], contentType: String = "application/json") {
        serve(path, contentType: contentType, body: Array(try! JSONSerialization.data(withJSONObject: json, options: [.withoutEscapingSlashes])))
    }

    func remove(_ path: String) { _ = documents.withLock { $0.removeValue(forKey: path) } }

    /// The minimal discovery document azure-workload-identity publishes, `jwks_uri` pointing at `/oidc/keys`.
    func serveDiscovery(jwksURI: String? = nil, issuer: String? = nil, contentType: String = "application/json") {
        serve("/oidc/.well-known/openid-configuration", json: [
            "issuer": issuer ?? self.issuer, "jwks_uri": jwksURI ?? "\(self.issuer)/keys",
            "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        ], contentType: contentType)
    }

    /// Publishes `keys` as the JWKS (in order), each with its `use` (none when nil).
    func publish(_ keys: [Key]) {
        serve("/oidc/keys", json: ["keys": keys.map(Self.jwk)])
    }

    static func jwk(_ k: Key) -> [String: Any] {
        let p = try! k.key.publicKey.getKeyPrimitives()
        var jwk: [String: Any] = ["kty": "RSA", "kid": k.kid, "alg": "RS256", "n": b64url(p.modulus), "e": b64url(p.publicExponent)]
        if let use = k.use { jwk["use"] = use }
        return jwk
    }

    func hitCount(_ path: String) -> Int { hits.withLock { $0[path] ?? 0 } }
    fileprivate func answer(_ path: String) -> Document {
        hits.withLock { $0[path, default: 0] += 1 }
        return documents.withLock { $0[path] } ?? Document(status: 404, contentType: "text/plain", body: Array("not found".utf8))
    }

    // MARK: tokens

    /// A token as OpenBao issues one: `iss`, `sub`, `aud`, `iat`, `nbf`, `exp`, signed RS256 with `kid`.
    func token(subject: String, audience: Any = "api://AzureADTokenExchange", issuer: String? = nil, lifetime: Double = 600,
               notBefore: Double? = nil, key: Key? = nil, alg: String = "RS256", kid: String?? = .none) -> String {
        let signer = key ?? signingKey
        let now = Date().timeIntervalSince1970
        var header: [String: Any] = ["alg": alg, "typ": "JWT"]
        switch kid {
        case .none: header["kid"] = signer.kid
        case .some(let value?): header["kid"] = value
        case .some(nil): break
        }
        let claims: [String: Any] = ["iss": issuer ?? self.issuer, "sub": subject, "aud": audience, "iat": Int(now),
                                     "nbf": Int(notBefore ?? now), "exp": Int(now + lifetime)]
        let input = Self.b64url(try! JSONSerialization.data(withJSONObject: header, options: [.withoutEscapingSlashes])) + "."
            + Self.b64url(try! JSONSerialization.data(withJSONObject: claims, options: [.withoutEscapingSlashes]))
        let signature = try! signer.key.signature(for: Data(input.utf8), padding: alg == "PS256" ? .PSS : .insecurePKCS1v1_5)
        return input + "." + Self.b64url(signature.rawRepresentation)
    }

    static func b64url(_ d: some DataProtocol) -> String {
        Data(d).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    // MARK: TLS

    static func tlsMaterial() throws -> (caPEM: String, certificatePEM: String, keyPEM: String) {
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName { CommonName("vault test issuer CA") }
        let now = Date()
        let ski = SubjectKeyIdentifier(hash: Certificate.PublicKey(caKey.publicKey))
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(86400), issuer: caName, subject: caName,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                ski
            },
            issuerPrivateKey: .init(caKey))
        let key = P256.Signing.PrivateKey()
        let server = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(86400), issuer: caName,
            subject: try DistinguishedName { CommonName("127.0.0.1") }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
                AuthorityKeyIdentifier(keyIdentifier: ski.keyIdentifier)
            },
            issuerPrivateKey: .init(caKey))
        return (try ca.serializeAsPEM().pemString, try server.serializeAsPEM().pemString, key.pemRepresentation)
    }
}

/// The issuer the handlers answer for (set once, after the server is bound).
private final class Routes: @unchecked Sendable {
    private let lock = NSLock()
    private weak var _issuer: TestIssuer?
    var issuer: TestIssuer? {
        get { lock.withLock { _issuer } }
        set { lock.withLock { _issuer = newValue } }
    }
}

/// Answers each request with the document stored for its path (HTTP/1.1, keep-alive).
private final class IssuerHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let routes: Routes
    var path = ""

    init(routes: Routes) { self.routes = routes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
        case .body:
            break
        case .end:
            let doc = routes.issuer?.answer(path) ?? TestIssuer.Document(status: 503, contentType: "text/plain", body: [])
            // Status 0: never answer (a stalled issuer).
            guard doc.status != 0 else { return }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: doc.contentType)
            headers.add(name: "Content-Length", value: String(doc.body.count))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: doc.status), headers: headers))),
                          promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: doc.body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
