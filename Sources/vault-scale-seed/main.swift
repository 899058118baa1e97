// Bench helper for bench/scale.sh: fills an existing vault (unlocked by a key file) with N filler apps and, in
// its own token cache, one cached token per filler app — what thousands of `vault add-app` / `vault token`
// calls would leave behind, without taking hours. Filler apps point at an unroutable custom endpoint and are never
// used; their secrets and tokens are random. Never part of `vault`.
// Usage: vault-scale-seed VAULT_DIR KEY_FILE COUNT
import EntraAuth
import FoundationEssentials
import VaultCrypto
import VaultErrors
import VaultFormat
import VaultRecords
import VaultStore
#if canImport(Glibc)
import Glibc
#endif

func complain(_ text: String) {
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

let args = CommandLine.arguments
guard args.count == 4, let count = Int(args[3]), count >= 0 else {
    complain("usage: vault-scale-seed VAULT_DIR KEY_FILE COUNT\n")
    exit(64)
}
let directory = VaultDirectory(path: args[1])
guard let keyBytes = try? FileSystem.read(args[2]), keyBytes.count == 32 else {
    complain("vault-scale-seed: cannot read the 32-byte key file\n")
    exit(66)
}
var k = keyBytes
let key = Credential.keyFile(SecretBytes(consuming: &k))
let vault = Vault(directory: directory)
let now = Int64(Date().timeIntervalSince1970)

func hex(_ n: Int, width: Int) -> String {
    let s = String(n, radix: 16)
    return String(repeating: "0", count: max(0, width - s.count)) + s
}
func clientID(_ i: Int) -> String { "\(hex(i, width: 8))-0000-4000-8000-\(hex(i, width: 12))" }

do {
    let tenant = "aaaaaaaa-0000-4000-8000-000000000001"
    try vault.update(key) { v in
        for i in 0..<count {
            var meta = AppMetadata(name: "filler-\(i)", tenant: tenant, clientID: clientID(i), cloud: "global",
                                   authority: "https://127.0.0.9:9", secretHint: "Fil", added: Date())
            meta.graphRoot = "https://127.0.0.9:9"
            meta.scope = "https://graph.microsoft.com/.default"
            meta.tenantID = tenant
            var s = Array("Fil~\(SystemRandom().bytes(18).map { hex(Int($0), width: 2) }.joined())".utf8)
            try v.contents.putApp(meta, secret: SecretBytes(consuming: &s))
        }
    }
    let unlocked = try vault.open(key)
    let caches = TokenCaches(vault: unlocked, directory: directory)
    for i in 0..<count {
        let store = try caches.store(app: "filler-\(i)")
        try store.withLock {
            var cache = try store.load().map { try MSALCache.parse($0) } ?? MSALCache()
            // A JWT-shaped random token of a typical size (about 2.2 KB).
            let body = SystemRandom().bytes(1100).map { hex(Int($0), width: 2) }.joined()
            cache.put(AccessToken(secret: "eyJ0eXAiOiJKV1QifQ.\(body).c2ln", tokenType: "Bearer", clientID: clientID(i), environment: "127.0.0.9",
                                  realm: tenant, target: "https://graph.microsoft.com/.default", cachedAt: now, expiresOn: now + 3599,
                                  extendedExpiresOn: now + 3599, refreshOn: nil))
            try store.save(try cache.sealedBytes())
        }
    }
    print("seeded \(count) filler apps and tokens")
} catch let e as VaultError {
    complain("vault-scale-seed: \(e.reason)\n")
    exit(1)
}
