import FoundationEssentials

/// A fast path from an app record's metadata to `AppMetadata`, for listing thousands of apps: a profile of `vault list`
/// over 10,000 apps spent a third of its instructions in `JSONDecoder`. It reads only what vault's own encoder writes
/// (one flat object: strings, numbers, booleans, null, arrays of strings) and gives up — returning nil, so that
/// `JSONDecoder` decides — on anything else: another shape, a duplicate key, a missing or mistyped field. When it
/// answers, the answer is the one `JSONDecoder` gives (a test and the vault-file fuzz harness check that).
package enum MetadataDecoding {
    enum Value: Equatable {
        case string(String), number(Double), bool(Bool), null, strings([String])
    }

    /// The keys `AppMetadata` reads (its CodingKeys); values of other keys are parsed and ignored, as Decodable does.
    enum Key: Int, CaseIterable {
        case name, tenant, client_id, cloud, secret_hint, added, authority, graph_root, rotated, secret_key_id, secret_expires
        case previous_key_id, tenant_id, scope, certificate, certificate_sha1, certificate_sha256, certificate_expires
        case certificate_subject, certificate_key_id, credential_use, assertion_algorithm, certificate_chain, send_x5c
        case backend, backend_path, backend_version

        /// A switch over short strings: no hashing (a dictionary here was a sixth of `vault list`'s instructions).
        init?(_ key: String) {
            switch key {
            case "name": self = .name
            case "tenant": self = .tenant
            case "client_id": self = .client_id
            case "cloud": self = .cloud
            case "secret_hint": self = .secret_hint
            case "added": self = .added
            case "authority": self = .authority
            case "graph_root": self = .graph_root
            case "rotated": self = .rotated
            case "secret_key_id": self = .secret_key_id
            case "secret_expires": self = .secret_expires
            case "previous_key_id": self = .previous_key_id
            case "tenant_id": self = .tenant_id
            case "scope": self = .scope
            case "certificate": self = .certificate
            case "certificate_sha1": self = .certificate_sha1
            case "certificate_sha256": self = .certificate_sha256
            case "certificate_expires": self = .certificate_expires
            case "certificate_subject": self = .certificate_subject
            case "certificate_key_id": self = .certificate_key_id
            case "credential_use": self = .credential_use
            case "assertion_algorithm": self = .assertion_algorithm
            case "certificate_chain": self = .certificate_chain
            case "send_x5c": self = .send_x5c
            case "backend": self = .backend
            case "backend_path": self = .backend_path
            case "backend_version": self = .backend_version
            default: return nil
            }
        }
    }

    /// The parsed known fields.
    struct Fields {
        var values = [Value?](repeating: nil, count: Key.allCases.count)
        subscript(_ key: Key) -> Value? {
            get { values[key.rawValue] }
            set { values[key.rawValue] = newValue }
        }
    }

    package static func decode(_ bytes: [UInt8]) -> AppMetadata? {
        guard let fields = bytes.withUnsafeBufferPointer({ parseObject($0) }) else { return nil }
        func string(_ key: Key) -> String?? {
            switch fields[key] {
            case nil, .null?: return .some(nil)
            case .string(let s)?: return .some(s)
            default: return nil
            }
        }
        func date(_ key: Key) -> Date?? {
            switch fields[key] {
            case nil, .null?: return .some(nil)
            case .number(let d)?: return .some(Date(timeIntervalSince1970: d))
            default: return nil
            }
        }
        guard case .string(let name)? = fields[.name], case .string(let tenant)? = fields[.tenant],
              case .string(let clientID)? = fields[.client_id], case .string(let cloud)? = fields[.cloud],
              case .string(let hint)? = fields[.secret_hint], case .number(let added)? = fields[.added],
              let authority = string(.authority) else { return nil }
        var m = AppMetadata(name: name, tenant: tenant, clientID: clientID, cloud: cloud, authority: authority, secretHint: hint,
                            added: Date(timeIntervalSince1970: added))
        guard let graphRoot = string(.graph_root), let rotated = date(.rotated), let secretKeyID = string(.secret_key_id),
              let secretExpires = date(.secret_expires), let previousKeyID = string(.previous_key_id),
              let tenantID = string(.tenant_id), let scope = string(.scope), let certificate = string(.certificate),
              let sha1 = string(.certificate_sha1), let sha256 = string(.certificate_sha256),
              let certificateExpires = date(.certificate_expires), let subject = string(.certificate_subject),
              let certificateKeyID = string(.certificate_key_id), let use = string(.credential_use),
              let algorithm = string(.assertion_algorithm) else { return nil }
        m.graphRoot = graphRoot; m.rotated = rotated; m.secretKeyID = secretKeyID; m.secretExpires = secretExpires
        m.previousKeyID = previousKeyID; m.tenantID = tenantID; m.scope = scope; m.certificate = certificate
        m.certificateSHA1 = sha1; m.certificateSHA256 = sha256; m.certificateExpires = certificateExpires
        m.certificateSubject = subject; m.certificateKeyID = certificateKeyID; m.credentialUse = use; m.assertionAlgorithm = algorithm
        switch fields[.certificate_chain] {
        case nil, .null?: break
        case .strings(let chain)?: m.certificateChain = chain
        default: return nil
        }
        switch fields[.send_x5c] {
        case nil, .null?: break
        case .bool(let b)?: m.sendX5C = b
        default: return nil
        }
        guard let backend = string(.backend), let backendPath = string(.backend_path) else { return nil }
        m.backend = backend; m.backendPath = backendPath
        switch fields[.backend_version] {
        case nil, .null?: break
        case .number(let v)? where v == v.rounded() && abs(v) < 1e15: m.backendVersion = Int(v)
        default: return nil
        }
        return m
    }

    /// `{ "key": value, … }` with nothing after it but whitespace; nil for anything else, or a known key twice.
    static func parseObject(_ b: UnsafeBufferPointer<UInt8>) -> Fields? {
        var i = 0
        func skip() { while i < b.count, b[i] == 0x20 || b[i] == 0x0a || b[i] == 0x0d || b[i] == 0x09 { i += 1 } }
        func byte(_ c: UInt8) -> Bool {
            skip()
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }
        func hex4() -> UInt32? {
            guard i + 4 <= b.count else { return nil }
            var v: UInt32 = 0
            for k in 0..<4 {
                let c = b[i + k]
                let d: UInt8
                switch c {
                case 0x30...0x39: d = c - 0x30
                case 0x41...0x46: d = c - 0x41 + 10
                case 0x61...0x66: d = c - 0x61 + 10
                default: return nil
                }
                v = v << 4 | UInt32(d)
            }
            i += 4
            return v
        }
        func string() -> String? {
            skip()
            guard i < b.count, b[i] == 0x22 else { return nil }
            i += 1
            // No escape before the closing quote (what nearly every value is): the bytes are the string.
            var end = i
            var high: UInt8 = 0
            while end < b.count, b[end] != 0x22, b[end] != 0x5c, b[end] >= 0x20 {
                high |= b[end]
                end += 1
            }
            if end < b.count, b[end] == 0x22 {
                let slice = UnsafeBufferPointer(rebasing: b[i..<end])
                i = end + 1
                return high < 0x80 ? String(decoding: slice, as: UTF8.self) : String(validating: slice, as: UTF8.self)
            }
            var out: [UInt8] = []
            out.reserveCapacity(end - i + 16)
            while i < b.count {
                let c = b[i]
                i += 1
                switch c {
                case 0x22:
                    return String(validating: out, as: UTF8.self)
                case 0x5c:
                    guard i < b.count else { return nil }
                    let e = b[i]
                    i += 1
                    switch e {
                    case 0x22, 0x5c, 0x2f: out.append(e)
                    case 0x62: out.append(0x08)
                    case 0x66: out.append(0x0c)
                    case 0x6e: out.append(0x0a)
                    case 0x72: out.append(0x0d)
                    case 0x74: out.append(0x09)
                    case 0x75:
                        guard var scalar = hex4() else { return nil }
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard i + 2 <= b.count, b[i] == 0x5c, b[i + 1] == 0x75 else { return nil }
                            i += 2
                            guard let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let u = Unicode.Scalar(scalar) else { return nil }
                        out.append(contentsOf: Array(String(Character(u)).utf8))
                    default: return nil
                    }
                case 0..<0x20: return nil
                default: out.append(c)
                }
            }
            return nil
        }
        /// JSON's number grammar exactly: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
        func number() -> Double? {
            let start = i
            func digits() -> Int {
                let from = i
                while i < b.count, (0x30...0x39).contains(b[i]) { i += 1 }
                return i - from
            }
            if i < b.count, b[i] == 0x2d { i += 1 }
            guard i < b.count else { return nil }
            if b[i] == 0x30 { i += 1 } else if digits() == 0 { return nil }
            if i < b.count, b[i] == 0x2e {
                i += 1
                guard digits() > 0 else { return nil }
            }
            if i < b.count, b[i] == 0x65 || b[i] == 0x45 {
                i += 1
                if i < b.count, b[i] == 0x2b || b[i] == 0x2d { i += 1 }
                guard digits() > 0 else { return nil }
            }
            guard let d = Double(String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)), d.isFinite else { return nil }
            return d
        }
        func literal(_ word: String) -> Bool {
            let w = Array(word.utf8)
            guard i + w.count <= b.count, Array(b[i..<(i + w.count)]) == w else { return false }
            i += w.count
            return true
        }
        func value() -> Value? {
            skip()
            guard i < b.count else { return nil }
            switch b[i] {
            case 0x22: return string().map(Value.string)
            case 0x74: return literal("true") ? .bool(true) : nil
            case 0x66: return literal("false") ? .bool(false) : nil
            case 0x6e: return literal("null") ? .null : nil
            case 0x5b:
                i += 1
                var items: [String] = []
                if byte(0x5d) { return .strings(items) }
                repeat {
                    guard let s = string() else { return nil }
                    items.append(s)
                } while byte(0x2c)
                return byte(0x5d) ? .strings(items) : nil
            case 0x2d, 0x30...0x39: return number().map(Value.number)
            default: return nil
            }
        }
        guard byte(0x7b) else { return nil }
        var fields = Fields()
        if !byte(0x7d) {
            repeat {
                guard let key = string(), byte(0x3a), let v = value() else { return nil }
                if let known = Key(key) {
                    guard fields[known] == nil else { return nil }
                    fields[known] = v
                }
            } while byte(0x2c)
            guard byte(0x7d) else { return nil }
        }
        skip()
        return i == b.count ? fields : nil
    }
}
