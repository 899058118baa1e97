import Foundation
import Testing
import VaultCLI
import VaultErrors

/// The CLI's one table of error words, checked against the code that throws: every code (and case) a source file
/// throws has its words, and no library below the executable words an error itself.
@Suite("errors: libraries say what happened, the CLI's table words it")
struct ErrorWordsTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources")

    /// (file, code, case) of every `VaultError("code", …)` in Sources, with the `"case": "…"` of its context if any.
    static func thrown() throws -> [(file: String, code: String, case: String?, call: String)] {
        var out: [(String, String, String?, String)] = []
        let files = FileManager.default.enumerator(atPath: sources.path)!.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }
        let call = try Regex(#"VaultError\("([a-z_.0-9]+)",[^\n]*(\n[^\n]*context:[^\n]*)?"#)
        let kase = try Regex(#""case": "([a-z_0-9]+)""#)
        for file in files where !file.hasPrefix("vault-emulator") && !file.hasPrefix("EntraEmulator") {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for m in text.matches(of: call) {
                // The whole call: from `VaultError(` to its closing parenthesis (parentheses in its strings balance).
                var depth = 0
                var end = m.range.lowerBound
                for i in text[m.range.lowerBound...].indices {
                    if text[i] == "(" { depth += 1 } else if text[i] == ")" { depth -= 1; if depth == 0 { end = text.index(after: i); break } }
                }
                let whole = String(text[m.range.lowerBound..<max(end, m.range.upperBound)])
                let code = String(m.output[1].substring!)
                let c = whole.firstMatch(of: kase).map { String($0.output[1].substring!) }
                out.append((file, code, c, whole))
            }
        }
        return out
    }

    @Test("every code and case thrown in Sources has its words in the table")
    func everyCodeIsWorded() throws {
        let all = try Self.thrown()
        #expect(all.count > 300, "the scan found \(all.count) throws; it is broken")
        for t in all {
            var context: VaultError.Context = [:]
            if let c = t.case { context["case"] = c }
            let e = VaultError(.init(t.code), "x", context: context)
            #expect(ErrorWords.words(ErrorWords.key(e)).known, "\(t.file): \(t.code)\(t.case.map { ":" + $0 } ?? "") has no words")
        }
    }

    @Test("every hint's {values} are given by every site that throws its code, so no hint is dropped for a missing value")
    func hintsHaveTheirValues() throws {
        let placeholder = try Regex(#"\{([a-z_]+)\}"#)
        let given = try Regex(#""([a-z_.]+)": "#)
        var checked = 0
        for t in try Self.thrown() {
            // Sites that build their context in a variable are read by their own tests.
            guard t.call.contains("context: [") || !t.call.contains("context:") else { continue }
            var context: VaultError.Context = [:]
            if let c = t.case { context["case"] = c }
            let e = VaultError(.init(t.code), "x", context: context)
            guard let template = ErrorWords.words(e).hint else { continue }
            let keys = Set(t.call.matches(of: given).map { String($0.output[1].substring!) })
            for m in template.matches(of: placeholder) {
                let key = String(m.output[1].substring!)
                let known = keys.contains(key) || ErrorWords.defaults.contains { $0.key == key } || (key == "flag" && keys.contains("input"))
                #expect(known, "\(t.file): \(t.code)\(t.case.map { ":" + $0 } ?? "") needs {\(key)} for its hint")
            }
            checked += 1
        }
        #expect(checked > 100, "checked \(checked) sites")
    }

    @Test("no library below the executable names a flag in an error, or picks a hint or an exit status")
    func librariesDoNotWord() throws {
        let flag = try Regex(#"(^|[^\w-])--[a-z][a-z-]+"#)
        let cli = ["vault/", "VaultCLI/", "VaultAdminCommands/", "VaultRunCommands/"]
        let checked = try Self.thrown().filter { t in !cli.contains { t.file.hasPrefix($0) } }
        #expect(checked.count > 250, "the scan found \(checked.count) library throws; it is broken")
        for t in checked {
            #expect(t.call.firstMatch(of: flag) == nil, "\(t.file): \(t.call)")
            #expect(!t.call.contains("hint:") && !t.call.contains("exit:"), "\(t.file): \(t.call)")
        }
    }

    @Test("a hint is filled from the context; a missing value drops the hint instead of showing it broken")
    func filling() {
        let e = VaultError("rotation.pending", "a rotation of 'demo' is pending", context: ["app": "demo"])
        #expect(ErrorWords.hint(e) == "finish it with `vault rotate-secret demo --resume`, or roll it back with `vault rotate-secret demo --abandon`")
        #expect(ErrorWords.exitStatus(e) == 75)
        #expect(ErrorWords.hint(VaultError("rotation.pending", "x")) == nil)
        let cert = VaultError("rotation.pending", "x", context: ["app": "c", "command": "rotate-cert"])
        #expect(ErrorWords.hint(cert)?.contains("vault rotate-cert c --resume") == true)
        // A case the table does not know falls back to its code's words.
        #expect(ErrorWords.exitStatus(VaultError("rotation.pending", "x", context: ["case": "unknown"])) == 75)
        // The cause of a wrapped error decides its exit status; errno refines an I/O error's.
        #expect(ErrorWords.exitStatus(VaultError("io.read", "x", context: ["errno": String(EACCES)])) == 77)
        #expect(ErrorWords.exitStatus(VaultError("io.read", "x", context: ["errno": String(ENOENT)])) == 66)
        #expect(ErrorWords.exitStatus(VaultError("io.read", "x", context: ["errno": String(EIO)])) == 74)
        #expect(ErrorWords.exitStatus(VaultError("rotation.manual_refused", "x", context: ["cause": "entra.invalid_secret"])) == 77)
    }

    @Test("the words of a typed value name its flag; the library's reason does not")
    func messages() {
        let e = VaultError("app.url", "invalid authority 'x': no scheme", context: ["input": "authority", "value": "x", "detail": "no scheme"])
        #expect(ErrorWords.message(e) == "invalid --authority 'x': no scheme")
        #expect(ErrorWords.message(VaultError("app.url", "invalid graph 'y'")) == "invalid graph 'y'")
    }
}
