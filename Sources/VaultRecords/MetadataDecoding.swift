import FoundationEssentials
import VaultJSON

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
        case backend, backend_path, backend_version, federated, federated_credential, federated_issuer, federated_subject

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
            case "federated": self = .federated
            case "federated_credential": self = .federated_credential
            case "federated_issuer": self = .federated_issuer
            case "federated_subject": self = .federated_subject
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
        guard let federated = string(.federated), let fic = string(.federated_credential), let issuer = string(.federated_issuer),
              let ficSubject = string(.federated_subject) else { return nil }
        m.federated = federated; m.federatedCredential = fic; m.federatedIssuer = issuer; m.federatedSubject = ficSubject
        switch fields[.backend_version] {
        case nil, .null?: break
        case .number(let v)? where v == v.rounded() && abs(v) < 1e15: m.backendVersion = Int(v)
        default: return nil
        }
        return m
    }

    /// `{ "key": value, … }`, validated by vault's one JSON scanner (grammar, unique names, nothing after it); nil for
    /// anything else, or for a known key whose value is not one of the forms above.
    static func parseObject(_ b: UnsafeBufferPointer<UInt8>) -> Fields? {
        var fields = Fields()
        var usable = true
        do {
            try JSONScan.forEachMember(b, in: 0..<b.count) { key, r in
                guard usable, let known = Key(key) else { return }
                guard let v = value(b, r) else { usable = false; return }
                fields[known] = v
            }
        } catch {
            return nil
        }
        return usable ? fields : nil
    }

    /// A value the fast path reads (the scanner has validated it); nil for nested objects and arrays of non-strings.
    static func value(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Value? {
        switch b[r.lowerBound] {
        case 0x22: return string(b, r).map(Value.string)
        case 0x74: return .bool(true)
        case 0x66: return .bool(false)
        case 0x6e: return .null
        case 0x5b:
            guard let items = try? JSONScan.elements(b, in: r) else { return nil }
            var strings: [String] = []
            strings.reserveCapacity(items.count)
            for item in items {
                guard b[item.lowerBound] == 0x22, let s = string(b, item) else { return nil }
                strings.append(s)
            }
            return .strings(strings)
        case 0x2d, 0x30...0x39:
            guard let d = Double(String(decoding: UnsafeBufferPointer(rebasing: b[r]), as: UTF8.self)), d.isFinite else { return nil }
            return .number(d)
        default:
            return nil
        }
    }

    /// A string value: its bytes as they are when it holds no escape (nearly every value), else decoded strictly;
    /// nil for invalid UTF-8 or a bad escape.
    static func string(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> String? {
        let inner = UnsafeBufferPointer(rebasing: b[(r.lowerBound + 1)..<(r.upperBound - 1)])
        if !inner.contains(0x5c) {
            return inner.allSatisfy({ $0 < 0x80 }) ? String(decoding: inner, as: UTF8.self) : String(validating: inner, as: UTF8.self)
        }
        return JSONStringDecoding.bytes(b, r).flatMap { String(validating: $0, as: UTF8.self) }
    }
}
