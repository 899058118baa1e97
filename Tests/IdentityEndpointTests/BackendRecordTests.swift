import FoundationEssentials
import Testing
import VaultCore
import VaultTokens
import VaultRotation
import VaultStore
import VaultFormat
import VaultRecords

/// (In this target because it links VaultCore, where the backend record lives.)
@Suite("A backend record's dates")
struct BackendRecordTests {
    @Test("added is written as whole Unix seconds; a value vault 0.1.0 counted from 2001 is read as the date it meant")
    func added() throws {
        let when = Date(timeIntervalSince1970: 1_796_594_906.6)
        let record = BackendRecord(name: "b", addresses: ["https://bao.example"], mount: "secret", prefix: "entra/", caBundle: nil,
                                   auth: "approle", roleID: "r", added: when)
        let text = String(decoding: try VaultContents.encoder.encode(record), as: UTF8.self)
        #expect(text.contains(#""added":1796594906"#), "\(text)")
        let back = try JSONDecoder().decode(BackendRecord.self, from: Data(text.utf8))
        #expect(back.added == Date(timeIntervalSince1970: 1_796_594_906))
        // What 0.1.0 wrote for the same moment: seconds since 2001-01-01, with a fraction.
        let old = text.replacing("1796594906", with: "818287706.6")
        let read = try JSONDecoder().decode(BackendRecord.self, from: Data(old.utf8))
        #expect(abs(read.added.timeIntervalSince1970 - 1_796_594_906.6) < 0.001)
        for bad in ["1e300", "-5", "\"x\""] {
            #expect(throws: (any Error).self) { try JSONDecoder().decode(BackendRecord.self, from: Data(text.replacing("1796594906", with: bad).utf8)) }
        }
    }
}
