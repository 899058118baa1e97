import EntraEmulator
import Foundation
import Graph
import Synchronization
import Testing
import VaultErrors
import VaultHTTP
import VaultTestSupport

/// The last check before a non-idempotent Graph write leaves, through libcurl's pre-request callback against the
/// emulator: a refusal there means Graph never saw the request (a rotation whose lock lapsed relies on that).
@Suite("A Graph write's last check before it leaves (libcurl's pre-request callback)", .timeLimit(.minutes(3)))
struct BeforeSendTests {
    let emu: EmulatorHarness
    init() throws { emu = try EmulatorHarness.start(EmulatorConfig(users: 1)) }

    struct Token: AccessTokenSource {
        let value: String
        func accessToken(rejecting: String?) throws -> String { value }
    }

    struct Refused: Error {}

    func applications() throws -> Applications {
        let transport = try CurlTransport(options: HTTPOptions(caBundle: emu.caPath))
        return Applications(client: GraphClient(root: emu.info.graph, transport: transport, tokens: Token(value: try emu.accessToken())))
    }

    func passwordCount(_ apps: Applications) throws -> Int { try apps.passwords(appID: emu.app.clientID).count }

    @Test("a refusal stops addPassword unsent: the app has no new password and the refusal itself is thrown")
    func refusedUnsent() throws {
        let apps = try applications()
        let before = try passwordCount(apps)
        let calls = Atomic<Int>(0)
        #expect(throws: Refused.self) {
            _ = try apps.addPassword(appID: emu.app.clientID, displayName: "never sent", end: Date().addingTimeInterval(86_400),
                                     beforeSend: { calls.add(1, ordering: .relaxed); throw Refused() })
        }
        #expect(calls.load(ordering: .relaxed) == 1)
        #expect(try passwordCount(apps) == before, "Graph never saw the write")
    }

    @Test("allowed, the write goes out after the check, which runs once the connection is up")
    func allowedSent() throws {
        let apps = try applications()
        let before = try passwordCount(apps)
        let calls = Atomic<Int>(0)
        let added = try apps.addPassword(appID: emu.app.clientID, displayName: "sent", end: Date().addingTimeInterval(86_400),
                                         beforeSend: { calls.add(1, ordering: .relaxed) })
        #expect(calls.load(ordering: .relaxed) == 1)
        #expect(Applications.isKeyID(added.credential.keyID))
        #expect(try passwordCount(apps) == before + 1)
    }
}
