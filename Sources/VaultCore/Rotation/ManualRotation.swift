import EntraAuth
import FoundationEssentials
import Graph
import VaultCrypto
import VaultErrors
import VaultRotation
import VaultTokens
import VaultHTTP
import VaultStore
import VaultFormat
import VaultRecords

extension RotationService {
    /// Stores a secret made by hand after proving it with a token request; a secret that fails changes nothing.
    public func manual(app: String, secret: SecretBytes) throws -> RotationReport {
        let held = try lock(app)
        defer { held.release() }
        if pending(app: app) != nil {
            throw VaultError("rotation.pending", "a rotation of '\(app)' is pending, so no secret was stored by hand", context: ["app": app])
        }
        let session = try tokens.session(app: app)
        if let backend = session.metadata.backend {
            throw VaultError("rotation.fleet", "app '\(app)' keeps its secret in backend '\(backend)'; a secret stored by hand here would not reach the other hosts", context: ["case": "manual", "backend_path": session.metadata.backendPath ?? "TENANT/NAME"])
        }
        var identity = session.identity
        identity.credential = .secret(secret)
        let flow = tokens.clientCredentials()
        let deadline = Date().addingTimeInterval(propagationTimeout)
        while true {
            do {
                _ = try flow.acquire(identity, scope: try session.defaultScope())
                break
            } catch let e as VaultError where EntraErrors.mayBePropagating(e) && Date() < deadline {
                sleeper.sleep(seconds: pollInterval)
            } catch let e as VaultError {
                throw VaultError("rotation.manual_refused", "the new secret does not work, so it was not stored: \(e.reason)",
                                 context: e.context.wrapped(in: ["app": app, "cause": e.code.rawValue]))
            }
        }
        try vault.update(unlock) { v in
            guard let stored = try v.contents.app(named: app) else { throw VaultError.unknownApp(app) }
            if try RotationJournal.load(v.contents, app: app) != nil {
                throw VaultError("rotation.pending", "a rotation of '\(app)' started meanwhile; nothing was stored", context: ["app": app])
            }
            var meta = stored.metadata
            meta.secretHint = secret.prefixString(3)
            meta.secretKeyID = nil
            meta.secretExpires = nil
            meta.rotated = Date()
            try v.contents.putApp(meta, secret: secret)
        }
        _ = try? CacheService(vault: vault, unlock: unlock).clear(app: app)
        var report = RotationReport(app: app)
        report.newHint = secret.prefixString(3)
        return report
    }
}
