import FoundationEssentials
import Graph
import VaultCrypto
import VaultRecords
import VaultTokens
import VaultStore

/// What the report says about one credential. Severity decides the exit status: critical 2, warning 1, info 0.
public enum CredentialFinding: String, Sendable, CaseIterable, Comparable {
    case expired, expiring, longLived = "long_lived", severalSecrets = "several_secrets",
         secretWithStronger = "secret_with_stronger", mutableSubject = "mutable_subject", managedByVault = "managed_by_vault"

    public enum Severity: Int, Sendable, Comparable {
        case info = 0, warning = 1, critical = 2
        public static func < (a: Severity, b: Severity) -> Bool { a.rawValue < b.rawValue }
        public var label: String { ["info", "warning", "critical"][rawValue] }
    }

    /// Critical: a credential that stopped or is about to stop working (something breaks, or a dead credential
    /// lingers). Warning: hygiene to fix at leisure. Info: vault's own.
    public var severity: Severity {
        switch self {
        case .expired, .expiring: .critical
        case .longLived, .severalSecrets, .secretWithStronger, .mutableSubject: .warning
        case .managedByVault: .info
        }
    }

    public static func < (a: CredentialFinding, b: CredentialFinding) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// The report's thresholds, and the time it is judged at.
public struct ReportPolicy: Sendable {
    public var within: TimeInterval
    public var maxLifetime: TimeInterval
    public var now: Date
    public init(within: TimeInterval = 30 * 86_400, maxLifetime: TimeInterval = 180 * 86_400, now: Date = Date()) {
        self.within = within; self.maxLifetime = maxLifetime; self.now = now
    }
}

/// A credential this vault holds, to be recognised in the tenant: by keyId when a rotation recorded it, else by the
/// secret's hint on the app's own registration, or a certificate's thumbprint.
public struct ManagedCredential: Sendable, Equatable {
    public var app: String
    public var clientID: String
    public var keyIDs: Set<String>
    public var secretHint: String?
    public var thumbprint: String?
    public init(app: String, clientID: String, keyIDs: Set<String>, secretHint: String?, thumbprint: String?) {
        self.app = app; self.clientID = clientID; self.keyIDs = keyIDs; self.secretHint = secretHint; self.thumbprint = thumbprint
    }
}

/// One row of the report: a credential, the object holding it, and what was found.
public struct ReportRecord: Sendable, Equatable {
    public var objectType: CredentialHolder.ObjectType
    public var objectID: String
    public var appID: String
    public var displayName: String
    public var credential: ListedCredential
    public var findings: [CredentialFinding]
    /// The credential's display name is one of vault's rotation names ("vault YYYY-MM-DD xxxxxxxx", "NAME (vault xxxxxxxx)").
    public var vaultRotationName = false
    /// The stored app holding it, and when its rotation is due (its end less the `--within` window).
    public var managedBy: String?
    public var rotationDue: Date?

    public var severity: CredentialFinding.Severity { findings.map(\.severity).max() ?? .info }
}

/// The rules, as pure functions of one object (docs/usage.md, "vault report").
public enum CredentialFindings {
    public static func evaluate(_ holder: CredentialHolder, policy: ReportPolicy, managed: [ManagedCredential]) -> [ReportRecord] {
        let now = policy.now
        func isExpired(_ c: ListedCredential) -> Bool { c.end.map { $0 <= now } ?? false }
        func isActive(_ c: ListedCredential) -> Bool { !isExpired(c) && (c.start.map { $0 <= now } ?? true) }
        let activeSecrets = holder.credentials.filter { $0.kind == .password && isActive($0) }
        let hasStronger = holder.credentials.contains { ($0.kind == .certificate && isActive($0)) || $0.kind == .federated }
        let passwords = holder.credentials.filter { $0.kind == .password }
        return holder.credentials.map { c in
            var f: [CredentialFinding] = []
            if let end = c.end {
                if end <= now { f.append(.expired) } else if end <= now.addingTimeInterval(policy.within) { f.append(.expiring) }
            }
            if let start = c.start, let end = c.end, end.timeIntervalSince(start) > policy.maxLifetime { f.append(.longLived) }
            if c.kind == .password, activeSecrets.count > 1, activeSecrets.contains(c) { f.append(.severalSecrets) }
            if c.kind == .password, !isExpired(c), hasStronger { f.append(.secretWithStronger) }
            if c.kind == .federated, isMutableSubject(issuer: c.issuer ?? "", subject: c.subject ?? "") { f.append(.mutableSubject) }
            var record = ReportRecord(objectType: holder.objectType, objectID: holder.id, appID: holder.appID, displayName: holder.displayName,
                                      credential: c, findings: f, vaultRotationName: c.kind == .password && isVaultRotationName(c.displayName ?? ""))
            if let owner = managedBy(c, holder: holder, passwords: passwords, managed: managed) {
                record.findings.append(.managedByVault)
                record.managedBy = owner
                record.rotationDue = c.end.map { $0.addingTimeInterval(-policy.within) }
            }
            record.findings.sort()
            return record
        }
    }

    static func managedBy(_ c: ListedCredential, holder: CredentialHolder, passwords: [ListedCredential], managed: [ManagedCredential]) -> String? {
        if let m = managed.first(where: { $0.keyIDs.contains(c.keyID) }) { return m.app }
        // Without a recorded keyId (an app added, never rotated): its own registration's only password with the hint.
        guard holder.objectType == .application else { return nil }
        for m in managed where m.clientID == holder.appID {
            if c.kind == .password, let hint = m.secretHint, !hint.isEmpty, c.hint == hint, passwords.filter({ $0.hint == hint }).count == 1 { return m.app }
            if c.kind == .certificate, let t = m.thumbprint, c.thumbprint == t { return m.app }
        }
        return nil
    }

    /// vault's rotation display names: "vault YYYY-MM-DD xxxxxxxx" (the default) and "NAME (vault xxxxxxxx)" (a name
    /// given with --display-name), xxxxxxxx being the first 8 hex digits of the rotation's id.
    public static func isVaultRotationName(_ name: String) -> Bool {
        func hex8(_ s: Substring) -> Bool { s.count == 8 && s.allSatisfy { $0.isHexDigit && !$0.isUppercase } }
        let parts = name.split(separator: " ", omittingEmptySubsequences: false)
        if parts.count == 3, parts[0] == "vault", hex8(parts[2]) {
            let d = parts[1].split(separator: "-", omittingEmptySubsequences: false)
            if d.map(\.count) == [4, 2, 2], d.allSatisfy({ $0.allSatisfy(\.isNumber) }) { return true }
        }
        if name.hasSuffix(")"), let open = name.ranges(of: " (vault ").last, open.lowerBound > name.startIndex {
            return hex8(name[open.upperBound...].dropLast())
        }
        return false
    }

    /// A subject built from names its issuer lets people rename, transfer or reuse (Microsoft's guidance on mutable
    /// subjects in federated identity credentials), for issuers that offer an immutable alternative:
    /// - GitHub Actions (token.actions.githubusercontent.com): `repo:OWNER/REPO:…` is name-based; the immutable form
    ///   carries both ids, `repo:OWNER@OWNER_ID/REPO@REPO_ID:…`.
    /// - GitLab (`project_path:GROUP/PROJECT:…`) and HCP Terraform (`organization:NAME:project:NAME:workspace:NAME:…`):
    ///   names only.
    /// Other subjects (GUIDs, Kubernetes service accounts, SPIFFE ids, OpenBao entity ids) are not flagged: their issuer
    /// offers no immutable form in `sub`, or the value already is an id.
    public static func isMutableSubject(issuer: String, subject: String) -> Bool {
        let host = issuer.lowercased().split(separator: "/").dropFirst().first { !$0.isEmpty }.map(String.init) ?? ""
        if host == "token.actions.githubusercontent.com" || host.hasSuffix(".ghe.com") {
            guard subject.hasPrefix("repo:") else { return false }
            let path = subject.dropFirst(5).split(separator: ":", maxSplits: 1).first ?? ""
            let parts = path.split(separator: "/", maxSplits: 1)
            func pinned(_ s: Substring) -> Bool {
                guard let at = s.lastIndex(of: "@") else { return false }
                let id = s[s.index(after: at)...]
                return !id.isEmpty && id.allSatisfy(\.isNumber)
            }
            return !(parts.count == 2 && pinned(parts[0]) && pinned(parts[1]))
        }
        if host.contains("gitlab"), subject.hasPrefix("project_path:") { return true }
        if host == "app.terraform.io" || host.hasSuffix(".terraform.io"), subject.hasPrefix("organization:") { return true }
        return false
    }
}

/// Totals, kept while the report streams.
public struct ReportSummary: Sendable {
    public var objects: [CredentialHolder.ObjectType: Int] = [:]
    public var credentials: [ListedCredential.Kind: Int] = [:]
    public var findings: [CredentialFinding: Int] = [:]
    public var severity: CredentialFinding.Severity = .info
    public var pages = 0
    public init() {}

    mutating func add(_ records: [ReportRecord], type: CredentialHolder.ObjectType) {
        objects[type, default: 0] += 1
        for r in records {
            credentials[r.credential.kind, default: 0] += 1
            for f in r.findings { findings[f, default: 0] += 1 }
            severity = max(severity, r.severity)
        }
    }
}

/// Use case: every application and service principal of the tenant, page by page, judged as it arrives.
public struct CredentialReportService: Sendable {
    public let graph: GraphService
    public init(graph: GraphService) { self.graph = graph }


    /// Streams each object's records to `onRecords` (memory stays one page); returns the totals.
    public func run(policy: ReportPolicy, managed: [ManagedCredential], onRecords: ([ReportRecord]) throws -> Void) throws -> ReportSummary {
        var summary = ReportSummary()
        for type in [CredentialHolder.ObjectType.application, .servicePrincipal] {
            try graph.client.pages(graph.client.url(DirectoryCredentials.path(type)), permission: .readApplications) { page, take in
                summary.pages += 1
                for i in 0..<take {
                    let holder = try DirectoryCredentials.holder(type, page: page, item: i)
                    let records = CredentialFindings.evaluate(holder, policy: policy, managed: managed)
                    summary.add(records, type: type)
                    if !records.isEmpty { try onRecords(records) }
                }
            }
        }
        return summary
    }

    /// The credentials this vault holds, from its app records (metadata only; no secret is read out).
    public static func managedCredentials(_ tokens: TokenService) throws -> [ManagedCredential] {
        let unlocked = try tokens.vault.open(tokens.unlock)
        return try unlocked.contents.apps.map { stored in
            let m = stored.metadata
            return ManagedCredential(app: m.name, clientID: m.clientID.lowercased(),
                                     keyIDs: Set([m.secretKeyID, m.certificateKeyID].compactMap { $0?.lowercased() }),
                                     secretHint: m.backend == nil && stored.secret != nil ? m.secretHint : nil,
                                     thumbprint: m.certificateSHA1.map(Self.hexThumbprint))
        }
    }

    /// The vault keeps SHA-1 thumbprints as base64url or hex; Graph shows upper-case hex.
    static func hexThumbprint(_ s: String) -> String {
        if s.count == 40, s.allSatisfy(\.isHexDigit) { return s.uppercased() }
        var b64 = String(s.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        while b64.count % 4 != 0 { b64 += "=" }
        guard let d = Data(base64Encoded: b64) else { return s.uppercased() }
        return d.map { b in (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true) }.joined()
    }
}
