import FoundationEssentials
import FuzzSupport
import IdentityEndpoint
import VaultCrypto

/// Fuzzes the managed-identity router (what a local client sends: method line target and headers) and the error body.
/// Input: the request target on the first line, then `name: value` header lines.
let header: SecretBytes = {
    var b = Array("0123456789abcdef0123456789abcdef".utf8)
    return SecretBytes(consuming: &b)
}()
let router = IdentityRouter(identityHeader: header, servesIMDS: true)

struct ErrorBody: Decodable { var error: String; var error_description: String; var statusCode: Int; var message: String }

func harness(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let target = lines.isEmpty ? "" : lines.removeFirst()
    let headers: [(name: String, value: String)] = lines.compactMap { line in
        guard let colon = line.firstIndex(of: ":") else { return nil }
        return (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingPrefix(" ").description)
    }
    switch router.route(method: bytes.first.map { $0 & 1 == 0 ? "GET" : "POST" } ?? "GET", target: target, headers: headers, peer: "fuzz") {
    case .success(let request):
        precondition(!request.resource.isEmpty && request.resource.utf8.count <= 512, "accepted an empty or huge resource")
        precondition(request.resource.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != 0x22 && $0 != 0x5c }, "accepted a resource that is not plain ASCII")
        precondition(request.scope.hasSuffix("/.default"))
        var out: [UInt8] = []
        IdentityResponse.success(IdentityToken(token: header, expiresOn: 1_800_000_000, clientID: "c"), resource: request.resource, now: 1_799_999_000, into: &out)
        struct Body: Decodable { var resource: String }
        let body = try? JSONDecoder().decode(Body.self, from: Data(out))
        precondition(body?.resource == request.resource, "success body does not round-trip")
    case .failure(let refusal):
        precondition([400, 401, 403, 404, 405].contains(refusal.status), "unexpected status \(refusal.status)")
        let body = try? JSONDecoder().decode(ErrorBody.self, from: Data(IdentityResponse.failure(refusal)))
        precondition(body?.statusCode == refusal.status && body?.message == refusal.message, "error body does not round-trip")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    harness(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
@main struct Replay {
    static func main() {
        FuzzReplay.main(harness) {
            let h = "X-IDENTITY-HEADER: 0123456789abcdef0123456789abcdef"
            return [
                "/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fgraph.microsoft.com\n" + h,
                "/msi/token?api-version=2019-08-01&resource=https://graph.microsoft.com/&client_id=abc\n" + h + "\nMetadata: true",
                "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api%3A%2F%2Fx&msi_res_id=%2Fsub\nMetadata: true",
                "/msi/token?api-version=2019-08-01&resource=%ZZ\n" + h,
                "/msi/token?api-version=2019-08-01&resource=%ff%fe\n" + h,
                "/msi/token?resource=a&resource=b&api-version=2019-08-01\n" + h,
                "/msi/token?api-version=2019-08-01&resource=a\"b\\c\n" + h,
                "/msi/token?api-version=2019-08-01&resource=x\nx-identity-header: wrong",
                "/\n",
                "/msi/token?&&&==&=&api-version=2019-08-01&resource=r\n" + h,
            ].enumerated().map { ("seed-\($0.offset)", Array($0.element.utf8)) }
        }
    }
}
#endif
