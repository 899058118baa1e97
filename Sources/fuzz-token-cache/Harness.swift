import EntraAuth
import FoundationEssentials
import FuzzSupport
import VaultCrypto
import VaultFormat
import VaultStore
import VaultRecords
import VaultJSON

/// Fuzzes the token cache: first byte even → the bytes are MSAL cache JSON (as `vault cache import` and the decrypted
/// per-app caches hold it): parse, list, look up, prune, store, serialise, and the warm path's entry reader must agree
/// with JSONDecoder whenever it answers; 1 mod 4 → the bytes are a version-1
/// `tokens.db`, 3 mod 4 → a version-2 per-app cache file, opened with a fixed master key (container parsing and
/// authentication).
let master: SecretBytes = {
    var k = [UInt8](repeating: 7, count: 32)
    return SecretBytes(consuming: &k)
}()
let vaultID = [UInt8](repeating: 1, count: 16)
let fileID = [UInt8](repeating: 2, count: 16)

func harness(_ bytes: [UInt8]) {
    guard let first = bytes.first else { return }
    let rest = Array(bytes.dropFirst())
    if first & 1 == 1 {
        let plain = first & 3 == 3 ? try? TokenCacheFile.open(rest, vaultID: vaultID, fileID: fileID, master: master)
                                   : try? TokenCacheFile.openVersion1(rest, vaultID: vaultID, master: master)
        if let plain { _ = try? MSALCache.parse(plain) }
        return
    }
    let entry = MSALCache.entryDecodings(rest)
    if let fast = entry.fast { precondition(fast == entry.reference, "the entry reader and JSONDecoder disagree") }
    guard var cache = try? MSALCache(json: rest) else { return }
    let tokens = cache.accessTokens
    for t in tokens.prefix(8) {
        _ = cache.lookup(environment: t.environment, clientID: t.clientID, realm: t.realm, scope: t.target)
        precondition(t.expiresOn >= 0 && t.expiresOn <= JSONValue.maxSeconds, "an out-of-range expiry was accepted")
    }
    cache.prune(now: 1_800_000_000)
    if let t = tokens.first { cache.put(t) }
    _ = try? cache.serialized()
    _ = cache.remove(clientID: tokens.first?.clientID)
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
            let entry = #"{"credential_type":"AccessToken","secret":"t","home_account_id":null,"environment":"login.microsoftonline.com","client_id":"22222222-2222-2222-2222-222222222222","realm":"11111111-1111-1111-1111-111111111111","target":"https://graph.microsoft.com/.default","token_type":"Bearer","cached_at":"1800000000","expires_on":"1800003599","extended_expires_on":"1800003599"}"#
            var seeds: [(String, [UInt8])] = [
                ("msal-one", [0] + Array(#"{"AccessToken":{"k":\#(entry)},"AppMetadata":{}}"#.utf8)),
                ("msal-huge-expiry", [0] + Array(#"{"AccessToken":{"k":{"credential_type":"AccessToken","secret":"t","home_account_id":null,"environment":"e","client_id":"c","realm":"r","target":"s","expires_on":1e300}}}"#.utf8)),
                ("msal-empty", [0] + Array("{}".utf8)),
                ("msal-entry", [0] + Array(entry.utf8)),
            ]
            var plain = Array(#"{"AccessToken":{"k":\#(entry)}}"#.utf8)
            let secret = SecretBytes(consuming: &plain)
            if let sealed = try? TokenCacheFile.sealVersion1(secret, vaultID: vaultID, master: master) {
                seeds.append(("tokens-db", [1] + sealed))
            }
            if let sealed = try? TokenCacheFile.seal(secret, vaultID: vaultID, fileID: fileID, master: master) {
                seeds.append(("tokens-app-v2", [3] + sealed))
            }
            return seeds
        }
    }
}
#endif
