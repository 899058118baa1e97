import FoundationEssentials
import Testing
import VaultCore
import VaultTokens
import VaultRotation
import VaultStore
import VaultFormat
import VaultRecords
#if canImport(Glibc)
import Glibc
#endif

@Suite("Audit lines: fixed keys, escaped strings, one write each, a private file")
struct AuditLineTests {
    struct Line: Decodable, Equatable {
        var time: String; var event: String; var app: String; var client_id: String?; var resource: String?
        var command: String; var pid: Int; var child_pid: Int?; var peer: String?; var source: String?
        var correlation_id: String?; var step: String?; var outcome: String
    }

    @Test("a handout line decodes back to what was recorded; hostile names are escaped, not injected")
    func roundTrip() throws {
        let hostile = "app\"}\n{\"event\":\"forged\u{1b}"
        let event = AuditEvent(time: Date(timeIntervalSince1970: 1_796_161_132.357), kind: .handout, app: hostile, clientID: "c",
                               resource: "https://graph.microsoft.com", requester: AuditRequester(command: "exec", childPID: 42, peer: "127.0.0.1:5"),
                               source: "cache", outcome: "ok")
        let bytes = event.jsonLine()
        #expect(!bytes.contains(0x0a), "one line")
        let line = try JSONDecoder().decode(Line.self, from: Data(bytes))
        #expect(line.time == "2026-12-01T21:38:52.357Z")
        #expect(line.event == "token.handout" && line.app == hostile && line.child_pid == 42 && line.peer == "127.0.0.1:5")
        #expect(line.pid == Int(getpid()) && line.source == "cache" && line.correlation_id == nil && line.outcome == "ok")
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"time":"2026-12-01T21:38:52.357Z","event":"token.handout","app":"#))
        #expect(!text.contains("\u{1b}"))
    }

    @Test("timestamps from the epoch, without the time-zone database", arguments: [
        (0.0, "1970-01-01T00:00:00.000Z"), (951_782_400.5, "2000-02-29T00:00:00.500Z"), (1_709_251_199.999, "2024-02-29T23:59:59.999Z"),
        (4_102_444_800, "2100-01-01T00:00:00.000Z"), (1_796_161_132.357, "2026-12-01T21:38:52.357Z"), (-1, "1969-12-31T23:59:59.000Z"),
    ])
    func timestamps(_ seconds: Double, _ text: String) {
        #expect(AuditEvent.timestamp(Date(timeIntervalSince1970: seconds)) == text)
    }

    @Test("the log file: created 0600 at the first event, lines appended whole, a public log refused")
    func file() throws {
        let dir = "/tmp/vault-audit-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(dir, 0o700)
        defer { unlink(dir + "/audit.log"); rmdir(dir) }
        let warnings = WarningBox()
        let log = AuditLog(.file(dir + "/audit.log"), warn: { warnings.add($0) })
        #expect(access(dir + "/audit.log", F_OK) != 0, "no file before an event")
        for i in 0..<3 {
            log.record(AuditEvent(time: Date(), kind: .entraRequest, app: "a\(i)", clientID: nil, resource: nil,
                                  requester: AuditRequester(command: "token"), correlationID: "id\(i)", outcome: "ok"))
        }
        var st = stat()
        #expect(stat(dir + "/audit.log", &st) == 0 && st.st_mode & 0o777 == 0o600)
        let lines = try AuditLogFile.lines(at: dir + "/audit.log")
        #expect(lines.count == 3)
        #expect(try lines.map { try JSONDecoder().decode(Line.self, from: Data($0.utf8)).correlation_id } == ["id0", "id1", "id2"])
        chmod(dir + "/audit.log", 0o644)
        let second = AuditLog(.file(dir + "/audit.log"), warn: { warnings.add($0) })
        second.record(AuditEvent(time: Date(), kind: .handout, app: "x", clientID: nil, resource: nil, requester: AuditRequester(command: "token"), outcome: "ok"))
        #expect(try AuditLogFile.lines(at: dir + "/audit.log").count == 3, "nothing written to a log others can read")
        #expect(warnings.all.count == 1 && warnings.all[0].contains("not private"))
    }
}

final class WarningBox: @unchecked Sendable {
    private var items: [String] = []
    private var lock = pthread_mutex_t()
    init() { pthread_mutex_init(&lock, nil) }
    func add(_ s: String) { pthread_mutex_lock(&lock); items.append(s); pthread_mutex_unlock(&lock) }
    var all: [String] { pthread_mutex_lock(&lock); defer { pthread_mutex_unlock(&lock) }; return items }
}
