import FoundationEssentials
import Testing
import VaultCore
import VaultTokens
import VaultRotation
import VaultCrypto
import VaultStore
import VaultFormat
import VaultRecords
#if canImport(Glibc)
import Glibc
#endif

@Suite("The handout's resources, its memory and its audit log's bounds")
struct HandoutPolicyTests {
    @Test("one spelling per resource: scheme and host lower-cased, trailing slashes gone, the path's case kept")
    func canonical() {
        for spelling in ["https://graph.microsoft.com", "HTTPS://GRAPH.MICROSOFT.COM/", "https://Graph.Microsoft.com///", "Https://graph.MICROSOFT.com/"] {
            #expect(Resource.canonical(spelling) == "https://graph.microsoft.com", "\(spelling)")
        }
        #expect(Resource.canonical("api://Contoso.example/App/Read/") == "api://contoso.example/App/Read")
        #expect(Resource.canonical("00000003-0000-0000-C000-000000000000") == "00000003-0000-0000-c000-000000000000")
        #expect(Resource.canonical("SomeAppName") == "SomeAppName")
        #expect(Resource.canonical("https://vault.azure.net?x=Y") == "https://vault.azure.net?x=Y")
    }

    @Test("a secret arena: fixed slots, a freed or reused slot never reads as another secret")
    func arena() throws {
        let arena = SecretArena(slots: 2, slotSize: 16)
        func put(_ s: String) -> SecretArena.Handle? { Array(s.utf8).withUnsafeBytes { arena.store($0) } }
        func get(_ h: SecretArena.Handle) -> String? { arena.read(h) { String(decoding: $0, as: UTF8.self) } }
        let a = try #require(put("token-a"))
        let b = try #require(put("token-b"))
        #expect(put("token-c") == nil, "a full arena refuses")
        #expect(put(String(repeating: "x", count: 17)) == nil, "a secret longer than a slot is refused")
        #expect(get(a) == "token-a" && get(b) == "token-b")
        arena.free(a)
        #expect(get(a) == nil)
        let c = try #require(put("token-c"))
        #expect(c.slot == a.slot && get(a) == nil && get(c) == "token-c", "the old handle does not read the slot's new secret")
        #expect(arena.used == 2)
    }

    @Test("the audit log moves to PATH.1 past its size, one copy kept, and both are read back")
    func rotation() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/audit.log"
        let log = try AuditLogFile(.file(path), maxBytes: 4096)
        let other = try AuditLogFile(.file(path), maxBytes: 4096)  // a second writer, as another process would be
        for i in 0..<400 {
            try (i % 2 == 0 ? log : other).append(Array(#"{"event":"token.handout","n":\#(i)}"#.utf8))
        }
        var st = stat()
        for p in [path, path + ".1"] {
            #expect(stat(p, &st) == 0 && st.st_size <= 4096 && st.st_mode & 0o777 == 0o600, "\(p)")
        }
        #expect(stat(path + ".2", &st) != 0)
        let lines = try AuditLogFile.lines(at: path)
        #expect(lines.last?.contains(#""n":399"#) == true)
        #expect(lines.count > 100 && lines.count < 400)
        let numbers = lines.compactMap { $0.split(separator: ":").last.flatMap { Int($0.dropLast()) } }
        #expect(numbers == numbers.sorted(), "PATH.1 is read before PATH, and no line is lost or repeated within them")
    }
}
