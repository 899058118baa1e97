import Testing
import VaultCrypto
import VaultJSON

@Suite("the one JSON scanner: strict grammar, caps and unique member names")
struct JSONScanTests {
    @Test("documents RFC 8259 allows are accepted", arguments: [String](arrayLiteral:
        #"{}"#, #"[]"#, #"{"a":[1,-2,3.5,4e10,-0.0e-3,true,false,null],"b":{"c":"\u00e9\"\\\/\b\f\n\r\t"}}"#,
        "  {\"a\" : 1 }\n", #""text""#, "0", "\u{FEFF}{\"bom\":1}"
    ))
    func accepted(_ json: String) throws {
        try JSONScan.validate(Array(json.utf8))
    }

    @Test("malformed documents are refused, each with a reason and an offset", arguments: [(String, String)](arrayLiteral:
        (#"{"a":1,"a":2}"#, "appears twice"), (#"{"a":1,"\u0061":2}"#, "appears twice"), (#"{"a":01}"#, "expected ',' or '}'"),
        (#"{"a":1.}"#, "digits after"), (#"{"a":1e}"#, "exponent"), (#"{"a":+1}"#, "unexpected character"),
        (#"[1,2,]"#, "unexpected character"), (#"{"a" 1}"#, "expected ':'"), (#"{"a":1"#, "unterminated"),
        ("{\"a\":\"x\ty\"}", "control character"), (#"{"a":"\x"}"#, "bad escape"), (#"{"a":"\u12"}"#, #"bad \u escape"#),
        (#"{a:1}"#, "member name"), (#"{"a":tru}"#, "unexpected"), (#"{} {}"#, "trailing bytes"), ("", "expected")
    ))
    func refused(_ json: String, _ why: String) {
        do {
            try JSONScan.validate(Array(json.utf8))
            Issue.record("accepted \(json)")
        } catch let e as JSONScan.Malformed {
            #expect(e.why.contains(why), "\(json): \(e)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test("nesting is capped at 64 levels, wherever the nesting is")
    func depth() throws {
        let ok = String(repeating: "[", count: 63) + String(repeating: "]", count: 63)
        try JSONScan.validate(Array(ok.utf8))
        for deep in [String(repeating: "[", count: 65) + String(repeating: "]", count: 65),
                     "{\"a\":" + String(repeating: "{\"a\":", count: 64) + "1" + String(repeating: "}", count: 65)] {
            #expect(throws: JSONScan.Malformed.self) { try JSONScan.validate(Array(deep.utf8)) }
        }
        // 100,000 levels: refused at the cap, no stack overflow.
        let hostile = Array(String(repeating: "[", count: 100_000).utf8)
        #expect(throws: JSONScan.Malformed.self) { try JSONScan.validate(hostile) }
    }

    @Test("members: names decoded, ranges exact, nested objects scanned in place")
    func members() throws {
        let bytes = Array(#"{"a\u0062":{"c":"d"}, "e":[1,{"f":2}]}"#.utf8)
        let m = try JSONScan.members(bytes)
        #expect(Set(m.keys) == ["ab", "e"])
        guard let ab = m["ab"], let e = m["e"] else { Issue.record("members \(m.keys)"); return }
        let inner = try JSONScan.members(bytes, in: ab)
        #expect(inner["c"].flatMap { JSONScan.string(bytes, $0) } == "d")
        var elements: [String] = []
        try JSONScan.elements(bytes, in: e) { elements.append(String(decoding: bytes[$0], as: UTF8.self)) }
        #expect(elements == ["1", #"{"f":2}"#])
    }

    @Test("the writer's one escaping rule round-trips every control character, quote and backslash")
    func writer() throws {
        let text = String((0..<128).map { Character(Unicode.Scalar(UInt8($0))) }) + "é😀"
        let written = JSONWriter.quoted(text)
        try JSONScan.validate(written)
        let back = try #require(written.withUnsafeBufferPointer { JSONStringDecoding.bytes($0, 0..<written.count) })
        #expect(back == Array(text.utf8))
        #expect(!written.dropFirst().dropLast().contains { $0 < 0x20 || $0 == 0x7f })
    }

    @Test("a secret decodes straight into secret memory; one with a control character is refused")
    func secret() throws {
        let bytes = Array(#"["s3\u002bcr\/t","bad\n"]"#.utf8)
        var ranges: [Range<Int>] = []
        try JSONScan.elements(bytes, in: 0..<bytes.count) { ranges.append($0) }
        let s = try #require(bytes.withUnsafeBufferPointer { JSONStringDecoding.secret($0, ranges[0]) })
        #expect(s.withUnsafeBytes { Array($0) } == Array("s3+cr/t".utf8))
        #expect(bytes.withUnsafeBufferPointer { JSONStringDecoding.secret($0, ranges[1]) } == nil)
    }

    @Test("the redaction walker replaces secret members' whole values and refuses what is not JSON")
    func redaction() throws {
        let body = Array(#"{"client_secret":"x","nested":{"secretText":{"a":[1]}},"ok":"y"}"#.utf8)
        let out = try #require(JSONRedactor.copy(body, marker: "R", redacting: { $0.lowercased().contains("secret") }))
        #expect(String(decoding: out, as: UTF8.self) == #"{"client_secret":"R","nested":{"secretText":"R"},"ok":"y"}"#)
        #expect(JSONRedactor.copy(Array(#"{"client_secret":"x""#.utf8), marker: "R", redacting: { _ in true }) == nil)
        #expect(JSONRedactor.copy(Array(#"{"a":1,"a":2}"#.utf8), marker: "R", redacting: { _ in true }) == nil)
    }

    @Test("the split of a validated document matches the scanner's ranges; unvalidated bytes never trap it")
    func validSplit() throws {
        let doc = Array(#" [ {"a" : "x,]}\"" , "b":[1,{"c":[]}], "\u0064":-1.5e3} , "s" , [ ] , true , null ] "#.utf8)
        try JSONScan.validate(doc)
        let split = doc.withUnsafeBufferPointer { JSONValid.elements($0, in: 0..<$0.count) }
        let scanned = try doc.withUnsafeBufferPointer { try JSONScan.elements($0, in: 0..<$0.count) }
        #expect(split == scanned && split.count == 5)
        var names: [Bool] = []
        var values: [String] = []
        doc.withUnsafeBufferPointer { b in
            JSONValid.forEachMember(b, in: split[0]) { n, v in
                names.append(n.is("d")); values.append(String(decoding: b[v], as: UTF8.self))
            }
        }
        #expect(names == [false, false, true])
        #expect(values == [#""x,]}\"""#, #"[1,{"c":[]}]"#, "-1.5e3"])
        // Hostile, never validated: every prefix and a run of pseudo-random documents stay inside the buffer.
        var seed: UInt64 = 0x9e37_79b9_7f4a_7c15
        var inputs = (0...doc.count).map { Array(doc[..<$0]) }
        let alphabet = Array(#"{}[]",:\ a1"#.utf8)
        for _ in 0..<2_000 {
            inputs.append((0..<Int(seed % 40)).map { _ in
                seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return alphabet[Int(seed >> 59) % alphabet.count]
            })
        }
        for input in inputs {
            input.withUnsafeBufferPointer { b in
                for r in JSONValid.elements(b, in: 0..<b.count) { #expect(r.lowerBound >= 0 && r.upperBound <= b.count) }
                JSONValid.forEachMember(b, in: 0..<b.count) { n, v in
                    _ = n.is("a")
                    #expect(v.lowerBound >= 0 && v.upperBound <= b.count)
                }
            }
        }
    }
}
