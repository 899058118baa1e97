import FoundationEssentials
import VaultCrypto
import VaultStore
import VaultTokens
import VaultFormat
import VaultRecords

/// The journal of one rotation of an app's credential, of any kind: written before Graph is asked to add the new
/// credential and after each step, so an interrupted rotation is finished or rolled back from the journal alone. One
/// journal per app at a time, whatever its kind.
///
/// Stored in the rotation's home: the local vault (record kind `rotation` for a password, `cert-rotation` for a
/// certificate, docs/FORMAT.md §4.3, so journals written by earlier versions resume) or the fleet lock record of a
/// backend (passwords only). Each kind writes exactly the metadata keys the format gives it.
///
/// A journal is bound to what it rotates: the app's client id and tenant, and the credential it replaces and the one
/// it adds (keyed fingerprints of a secret; thumbprints of a certificate). A journal that no longer matches its app is
/// refused, never committed. Every write is a compare-and-swap on `id`, made under the app's rotation lock.
public struct RotationJournal: Sendable, Equatable {
    /// The credential kinds the machine rotates (the seam `CredentialKind` implements each).
    public enum Kind: String, Sendable, Equatable {
        case password, certificate
        /// A federated identity credential (`vault federate`): the app moves to an external issuer's tokens.
        case federated
    }

    public enum Step: String, Codable, Sendable {
        /// The Graph write that adds the new credential may have run. Recovery: a kind that holds the new credential
        /// itself (a certificate) looks for it on the app and goes on; otherwise the rotation is rolled back.
        case adding
        /// The new credential is on the app and journaled. Recovery: prove it, then go on.
        case added
        /// The new credential works. Recovery: commit it.
        case proven
        /// The home holds the new credential as current. Recovery: remove the old one.
        case committed
        /// Rolling back: what this rotation added must go; the stored credential is unchanged. Recovery: remove it,
        /// confirmed over the lag window.
        case removing
    }

    public var kind: Kind
    public var id: String
    public var app: String
    public var step: Step
    public var started: Date
    /// Unique to this rotation: what it may have added is found by it exactly.
    public var displayName: String
    public var clientID: String?
    public var tenant: String?
    /// The key id of the credential being replaced (nil: not identified; nothing is removed then).
    public var oldKeyID: String?
    public var newKeyID: String?
    /// Every key id of this kind the app held before the rotation (an answer naming one of them is not believed).
    public var keyIDsBefore: [String] = []
    /// Seconds after a write during which Graph's reads may not show it yet (docs/protocols.md,
    /// "Graph: credential propagation").
    public var lagWindow: Double?

    // A password rotation.
    public var newHint: String?
    public var newEnd: Date?
    public var keepOld = false
    public var oldFingerprint: String?
    public var newFingerprint: String?
    /// When the old password was created, if known (a previous rotation): its removal is confirmed over the window.
    public var oldCreated: Date?
    /// A fleet app: the KV version of the app's record the rotation started from (the commit is check-and-set on it).
    public var backendVersion: Int?

    // A certificate rotation.
    /// The application object id (the `iss` of addKey/removeKey proofs).
    public var objectID: String?
    public var oldThumbprint: String?
    public var newThumbprint: String?
    /// The new certificate, base64 DER (public).
    public var newCertificate: String?
    /// A move from a client secret to a certificate (`rotate-secret --to-certificate`): the key goes on with PATCH,
    /// and the old credential removed at the end is the password `oldPasswordKeyID`.
    public var fromSecret: Bool?
    public var oldPasswordKeyID: String?

    // A move to a federated credential.
    /// The source of the external token (`file:PATH`, `backend:NAME/ROLE`), the FIC's issuer, subject and audience.
    public var federatedSource: String?
    public var issuer: String?
    public var subject: String?
    public var audience: String?
    /// The credentials removed once the federated one is proven and committed (`--remove-secrets`,
    /// `--remove-certificates`): the key ids the app held when the move started.
    public var removePasswords: [String] = []
    public var removeKeys: [String] = []

    public init(kind: Kind, id: String, app: String, step: Step, started: Date, displayName: String) {
        self.kind = kind
        self.id = id
        self.app = app
        self.step = step
        self.started = started
        self.displayName = displayName
    }

    public var shortID: String { String(id.prefix(8)) }
    package var movesFromSecret: Bool { fromSecret == true }

    /// A journal whose record cannot be decoded: it still blocks (reported, never silently dropped) until abandoned.
    package static func unreadable(_ kind: Kind, app: String) -> RotationJournal {
        var j = RotationJournal(kind: kind, id: "unreadable", app: app, step: .adding, started: .distantPast, displayName: "")
        j.keepOld = true
        return j
    }

    // MARK: the vault record

    /// The record kind of each credential kind's journal in the local vault.
    package static func recordKind(_ kind: Kind) -> String {
        switch kind {
        case .password: return RecordKind.passwordRotation
        case .certificate: return RecordKind.certificateRotation
        case .federated: return RecordKind.federation
        }
    }
    package static let recordKinds = [recordKind(.password), recordKind(.certificate), recordKind(.federated)]
    /// The record secret holding the new credential (a password's secret, a certificate's private key, a federated
    /// credential's source: not a secret, but what the machine carries as the new credential).
    package static func secretName(_ kind: Kind) -> String {
        switch kind {
        case .password: return "new"
        case .certificate: return "new_key"
        case .federated: return "new_source"
        }
    }

    package func record(newSecret: SecretBytes?) throws -> StoredRecord {
        StoredRecord(kind: Self.recordKind(kind), name: app, metadata: Array(try VaultContents.encoder.encode(self)),
                     secrets: newSecret.map { [Self.secretName(kind): $0] } ?? [:])
    }

    /// The pending rotation of `app` in `contents`, of either kind.
    package static func load(_ contents: VaultContents, app: String) throws -> (journal: RotationJournal, newSecret: SecretBytes?)? {
        for kind in [Kind.password, .certificate, .federated] {
            guard let r = try contents.record(kind: recordKind(kind), name: app) else { continue }
            return (decode(kind, Data(r.metadata), app: app), r.secrets[secretName(kind)])
        }
        return nil
    }

    /// The journal in `bytes` (JSON metadata), or `unreadable`.
    package static func decode(_ kind: Kind, _ bytes: Data, app: String) -> RotationJournal {
        guard var j = try? VaultContents.decoder.decode(RotationJournal.self, from: bytes) else { return .unreadable(kind, app: app) }
        // The kind is the record's: a certificate journal decodes with its own keys, checked below.
        j.kind = kind
        if kind == .certificate, j.clientID == nil || j.tenant == nil || j.objectID == nil || j.oldThumbprint == nil
            || j.newThumbprint == nil || j.newCertificate == nil {
            return .unreadable(kind, app: app)
        }
        if kind == .password, j.newEnd == nil { return .unreadable(kind, app: app) }
        if kind == .federated, j.clientID == nil || j.tenant == nil || j.federatedSource == nil || j.issuer == nil || j.subject == nil
            || j.audience == nil {
            return .unreadable(kind, app: app)
        }
        return j
    }

    // MARK: binding

    /// Why this journal does not belong to the stored app (nil when it does). `fingerprint` is the home's keyed
    /// fingerprint of a secret.
    package func mismatch(with stored: StoredApp, fingerprint: (SecretBytes) throws -> String) throws -> String? {
        let meta = stored.metadata
        if id == "unreadable" { return "its journal record cannot be read" }
        if let c = clientID, c.lowercased() != meta.clientID.lowercased() { return "it was started for client id \(c), and the app now has \(meta.clientID)" }
        if let t = tenant, t.lowercased() != meta.tenant.lowercased() { return "it was started for tenant \(t), and the app is now in \(meta.tenant)" }
        switch kind {
        case .password:
            guard let current = stored.secret else { return "the app no longer holds a client secret" }
            let fp = try fingerprint(current)
            let expected = step == .committed ? newFingerprint : oldFingerprint
            // A fleet commit is two writes (the app's record, then the journal): a `proven` journal whose app already
            // holds the new secret stopped between them, and its commit is finished, not refused.
            if step == .proven, let n = newFingerprint, n == fp { return nil }
            if let expected, expected != fp {
                return step == .committed ? "the stored secret is not the one it committed" : "the stored secret is not the one it set out to replace"
            }
            return nil
        case .certificate:
            if movesFromSecret && step != .committed && meta.certificate != nil {
                return "the app holds a certificate now; the move from its secret was not finished"
            }
            if !movesFromSecret || step == .committed, !meta.usesCertificate {
                return "the app no longer uses a certificate"
            }
            let expected: String? = step == .committed ? newThumbprint : (movesFromSecret ? nil : oldThumbprint)
            if meta.certificateSHA1 != expected {
                return step == .committed ? "the stored certificate is not the one it committed" : "the stored certificate is not the one it set out to replace"
            }
            return nil
        case .federated:
            if step == .committed, meta.federated != federatedSource {
                return "the app's federated source is not the one it committed"
            }
            return nil
        }
    }
}

extension RotationJournal: Codable {
    package enum CodingKeys: String, CodingKey {
        case id, app, step, started, displayName = "display_name", keyIDsBefore = "key_ids_before", oldKeyID = "old_key_id"
        case newKeyID = "new_key_id", newHint = "new_hint", newEnd = "new_end", keepOld = "keep_old"
        case clientID = "client_id", tenant, oldFingerprint = "old_fingerprint", newFingerprint = "new_fingerprint"
        case lagWindow = "lag_window", oldCreated = "old_created", backendVersion = "backend_version"
        case objectID = "object_id", oldThumbprint = "old_thumbprint", newThumbprint = "new_thumbprint"
        case newCertificate = "new_certificate", fromSecret = "from_secret", oldPasswordKeyID = "old_password_key_id"
        case federatedSource = "federated_source", issuer, subject, audience, removePasswords = "remove_passwords", removeKeys = "remove_keys"
    }

    /// Decodes either kind's keys; `decode(_:_:app:)` sets the kind from the record and checks its required keys.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let hasCertificate = c.contains(.newThumbprint)
        self.init(kind: hasCertificate ? .certificate : .password, id: try c.decode(String.self, forKey: .id),
                  app: try c.decode(String.self, forKey: .app), step: try c.decode(Step.self, forKey: .step),
                  started: try c.decode(Date.self, forKey: .started), displayName: try c.decode(String.self, forKey: .displayName))
        clientID = try c.decodeIfPresent(String.self, forKey: .clientID)
        tenant = try c.decodeIfPresent(String.self, forKey: .tenant)
        oldKeyID = try c.decodeIfPresent(String.self, forKey: .oldKeyID)
        newKeyID = try c.decodeIfPresent(String.self, forKey: .newKeyID)
        keyIDsBefore = try c.decodeIfPresent([String].self, forKey: .keyIDsBefore) ?? []
        lagWindow = try c.decodeIfPresent(Double.self, forKey: .lagWindow)
        newHint = try c.decodeIfPresent(String.self, forKey: .newHint)
        newEnd = try c.decodeIfPresent(Date.self, forKey: .newEnd)
        keepOld = try c.decodeIfPresent(Bool.self, forKey: .keepOld) ?? false
        oldFingerprint = try c.decodeIfPresent(String.self, forKey: .oldFingerprint)
        newFingerprint = try c.decodeIfPresent(String.self, forKey: .newFingerprint)
        oldCreated = try c.decodeIfPresent(Date.self, forKey: .oldCreated)
        backendVersion = try c.decodeIfPresent(Int.self, forKey: .backendVersion)
        objectID = try c.decodeIfPresent(String.self, forKey: .objectID)
        oldThumbprint = try c.decodeIfPresent(String.self, forKey: .oldThumbprint)
        newThumbprint = try c.decodeIfPresent(String.self, forKey: .newThumbprint)
        newCertificate = try c.decodeIfPresent(String.self, forKey: .newCertificate)
        fromSecret = try c.decodeIfPresent(Bool.self, forKey: .fromSecret)
        oldPasswordKeyID = try c.decodeIfPresent(String.self, forKey: .oldPasswordKeyID)
        federatedSource = try c.decodeIfPresent(String.self, forKey: .federatedSource)
        issuer = try c.decodeIfPresent(String.self, forKey: .issuer)
        subject = try c.decodeIfPresent(String.self, forKey: .subject)
        audience = try c.decodeIfPresent(String.self, forKey: .audience)
        removePasswords = try c.decodeIfPresent([String].self, forKey: .removePasswords) ?? []
        removeKeys = try c.decodeIfPresent([String].self, forKey: .removeKeys) ?? []
    }

    /// Each kind writes its own keys (docs/FORMAT.md §4.3), so a journal reads the same in an earlier version.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(app, forKey: .app)
        try c.encode(step, forKey: .step)
        try c.encode(started, forKey: .started)
        try c.encode(displayName, forKey: .displayName)
        try c.encodeIfPresent(clientID, forKey: .clientID)
        try c.encodeIfPresent(tenant, forKey: .tenant)
        try c.encodeIfPresent(oldKeyID, forKey: .oldKeyID)
        try c.encodeIfPresent(newKeyID, forKey: .newKeyID)
        try c.encode(keyIDsBefore, forKey: .keyIDsBefore)
        try c.encodeIfPresent(lagWindow, forKey: .lagWindow)
        switch kind {
        case .password:
            try c.encodeIfPresent(newHint, forKey: .newHint)
            try c.encode(newEnd ?? started, forKey: .newEnd)
            try c.encode(keepOld, forKey: .keepOld)
            try c.encodeIfPresent(oldFingerprint, forKey: .oldFingerprint)
            try c.encodeIfPresent(newFingerprint, forKey: .newFingerprint)
            try c.encodeIfPresent(oldCreated, forKey: .oldCreated)
            try c.encodeIfPresent(backendVersion, forKey: .backendVersion)
        case .certificate:
            try c.encodeIfPresent(newEnd, forKey: .newEnd)
            try c.encode(objectID ?? "", forKey: .objectID)
            try c.encode(oldThumbprint ?? "", forKey: .oldThumbprint)
            try c.encode(newThumbprint ?? "", forKey: .newThumbprint)
            try c.encode(newCertificate ?? "", forKey: .newCertificate)
            try c.encodeIfPresent(fromSecret, forKey: .fromSecret)
            try c.encodeIfPresent(oldPasswordKeyID, forKey: .oldPasswordKeyID)
        case .federated:
            try c.encode(federatedSource ?? "", forKey: .federatedSource)
            try c.encode(issuer ?? "", forKey: .issuer)
            try c.encode(subject ?? "", forKey: .subject)
            try c.encode(audience ?? "", forKey: .audience)
            try c.encode(removePasswords, forKey: .removePasswords)
            try c.encode(removeKeys, forKey: .removeKeys)
        }
    }
}

extension RotationJournal.Kind {
    /// The command that starts, resumes and abandons a journal of this kind.
    public var command: String {
        switch self {
        case .password: return "rotate-secret"
        case .certificate: return "rotate-cert"
        case .federated: return "federate"
        }
    }
}
