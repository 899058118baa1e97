import EmulatorDirectory
import Foundation

/// `/_emulator/…`: counters, request log, fault injection, credential and lifetime controls.
/// The server binds 127.0.0.1 only, so every caller is local.
struct AdminEndpoints: Sendable {
    let core: EmulatorCore

    func handle(_ x: Exchange) async -> Reply {
        let parts = x.path.split(separator: "/").dropFirst().map(String.init)
        let body = (try? JSONSerialization.jsonObject(with: x.body.isEmpty ? Data("{}".utf8) : x.body)) as? [String: Any] ?? [:]
        switch (x.method, parts) {
        case ("GET", ["counters"]):
            return Reply(status: 200, headers: [("Content-Type", "application/json")], body: await core.state.countersJSON(), flavor: .plain)
        case ("POST", ["reset"]):
            await core.state.resetCounters()
            await core.state.clearFaults()
            return .json(200, ["ok": true], flavor: .plain)
        case ("GET", ["log"]):
            return Reply(status: 200, headers: [("Content-Type", "application/json")], body: await core.state.requestLogJSON(), flavor: .plain)
        case ("POST", ["faults"]):
            guard let fault = try? JSONDecoder().decode(Fault.self, from: x.body) else {
                return .json(400, ["error": "body must be {\"path\":…,\"mode\":\"429|429text|503|504|504-after|500|403|stall|drop|html\",\"count\":N}"], flavor: .plain)
            }
            await core.state.addFault(fault)
            return .json(200, ["ok": true], flavor: .plain)
        case ("DELETE", ["faults"]):
            await core.state.clearFaults()
            return .json(200, ["ok": true], flavor: .plain)
        case ("POST", ["settings"]):
            await core.state.setSettings(tokenLifetime: body["token_lifetime"] as? Int,
                                         propagationDelay: JWT.number(body["propagation_delay"]),
                                         replicationLag: JWT.number(body["replication_lag"]),
                                         notFoundStatus: body["not_found_status"] as? Int,
                                         issuerCacheSeconds: JWT.number(body["issuer_cache_seconds"]))
            if body["issuer_cache_seconds"] != nil { await core.issuers.forget() }
            return .json(200, ["token_lifetime": await core.state.tokenLifetime,
                               "propagation_delay": await core.state.propagationDelay,
                               "replication_lag": await core.state.replicationLag,
                               "not_found_status": await core.state.notFoundStatus,
                               "issuer_cache_seconds": await core.state.issuerCacheSeconds], flavor: .plain)
        case ("POST", ["policies"]):
            // {"password_lifetime_max_days": 90, "max_passwords": 3, "empty_pages": true, "clear": true}
            await core.state.setPolicies(passwordLifetimeMaxDays: JWT.number(body["password_lifetime_max_days"]),
                                         maxPasswords: body["max_passwords"] as? Int, emptyPages: body["empty_pages"] as? Bool,
                                         clear: body["clear"] as? Bool ?? false)
            return .json(200, ["ok": true], flavor: .plain)
        case ("POST", ["expire-tokens"]):
            await core.state.expireTokens(after: body["after_requests"] as? Int ?? 0)
            return .json(200, ["ok": true], flavor: .plain)
        case ("POST", ["next-link-base"]):
            await core.state.setNextLinkBase(body["base"] as? String)
            return .json(200, ["ok": true], flavor: .plain)
        case ("POST", ["tokens"]):
            return await mint(body)
        case ("GET", ["apps"]):
            return .json(200, ["apps": await core.state.allApps().map(describe)], flavor: .plain)
        case ("GET", let p) where p.count == 2 && p[0] == "apps":
            guard let app = await core.state.app(p[1]) else { return .json(404, ["error": "unknown app"], flavor: .plain) }
            return .json(200, describe(app), flavor: .plain)
        case ("POST", let p) where p.count == 3 && p[0] == "apps":
            guard var app = await core.state.app(p[1]) else { return .json(404, ["error": "unknown app"], flavor: .plain) }
            let keyID = (body["key_id"] as? String)?.lowercased()
            switch p[2] {
            case "expire-secret":
                for i in app.passwords.indices where keyID == nil || app.passwords[i].keyID == keyID {
                    app.passwords[i].end = Date().addingTimeInterval(-60)
                    app.passwords[i].endText = GraphTime.sevenDigits(app.passwords[i].end)
                }
            case "set-secret-end":
                guard let days = JWT.number(body["days"]) else { return .json(400, ["error": "days required"], flavor: .plain) }
                for i in app.passwords.indices where keyID == nil || app.passwords[i].keyID == keyID {
                    app.passwords[i].end = Date().addingTimeInterval(days * 86400)
                    app.passwords[i].endText = GraphTime.sevenDigits(app.passwords[i].end)
                }
            case "revoke-secret":
                app.passwords.removeAll { keyID == nil || $0.keyID == keyID }
            case "roles":
                guard let roles = body["roles"] as? [String] else { return .json(400, ["error": "roles required"], flavor: .plain) }
                app.roles = roles
            case "upload-certificate":
                // What the portal's "Upload certificate" does: a new keyCredential from a PEM or base64 DER certificate.
                let cert: CertificateCredential
                do {
                    if let pem = body["pem"] as? String {
                        cert = try CertificateCredential(pem: pem, keyID: GUID.make())
                    } else if let der = (body["der"] as? String).flatMap({ Data(base64Encoded: $0) }) {
                        cert = try CertificateCredential(der: Array(der), keyID: GUID.make())
                    } else {
                        return .json(400, ["error": "pem or der required"], flavor: .plain)
                    }
                } catch {
                    return .json(400, ["error": "not an RSA certificate: \(error)"], flavor: .plain)
                }
                var added = cert
                added.usableFrom = Date().addingTimeInterval(await core.state.propagationDelay)
                added.displayName = body["display_name"] as? String
                app.certificates.append(added)
            case "remove-certificate":
                app.certificates.removeAll { keyID == nil || $0.keyID == keyID }
            case "owns-self":
                let owns = body["owns_self"] as? Bool ?? true
                app.owners.removeAll { $0 == app.servicePrincipalID }
                if owns { app.owners.append(app.servicePrincipalID) }
            default:
                return .json(404, ["error": "unknown action"], flavor: .plain)
            }
            await core.state.update(app)
            return .json(200, describe(app), flavor: .plain)
        default:
            return .json(404, ["error": "unknown admin endpoint \(x.method) \(x.path)"], flavor: .plain)
        }
    }

    /// Mints an access token with chosen claims, signed by a tenant key: for testing Graph's token checks
    /// (wrong audience, unknown tenant, expired). Body: client_id, and optional aud, tid, iss, lifetime (s, may be
    /// negative), roles, signing_tenant.
    func mint(_ body: [String: Any]) async -> Reply {
        guard let clientID = body["client_id"] as? String, let app = await core.state.app(clientID) else {
            return .json(400, ["error": "client_id of a known app required"], flavor: .plain)
        }
        let signer = (body["signing_tenant"] as? String).flatMap(core.tenant) ?? core.tenant(app.tenantID)!
        let tid = body["tid"] as? String ?? app.tenantID
        let now = Int(Date().timeIntervalSince1970)
        let lifetime = body["lifetime"] as? Int ?? 3599
        let claims: [String: Any] = [
            "aud": body["aud"] as? String ?? "https://graph.microsoft.com", "iss": body["iss"] as? String ?? "https://sts.windows.net/\(tid)/",
            "iat": now - 10, "nbf": now - 10, "exp": now + lifetime, "appid": app.clientID, "appidacr": "1", "idtyp": "app",
            "oid": app.servicePrincipalID, "sub": app.servicePrincipalID, "roles": body["roles"] as? [String] ?? app.roles, "tid": tid,
            "uti": "minted", "ver": "1.0",
        ]
        guard let jwt = try? JWT.sign(header: ["typ": "JWT", "alg": "RS256", "kid": signer.key.kid], claims: claims, key: signer.key.privateKey) else {
            return .json(500, ["error": "signing failed"], flavor: .plain)
        }
        return .json(200, ["access_token": jwt], flavor: .plain)
    }

    /// An app as the admin API shows it: key ids, hints and dates; secrets only for the ones the config supplied.
    func describe(_ app: AppRegistration) -> [String: Any] {
        ["name": app.name, "client_id": app.clientID, "object_id": app.objectID, "service_principal_id": app.servicePrincipalID,
         "tenant_id": app.tenantID, "also_in": app.foreignServicePrincipals.keys.sorted(), "roles": app.roles, "owns_self": app.owners.contains(app.servicePrincipalID),
         "passwords": app.passwords.map { ["key_id": $0.keyID, "hint": $0.hint, "start": $0.startText, "end": $0.endText,
                                           "display_name": $0.displayName.map { $0 as Any } ?? NSNull()] },
         "certificates": app.certificates.map { ["key_id": $0.keyID, "thumbprint": CertificateCredential.hexThumbprint($0.sha1),
                                                 "sha256": $0.sha256, "end": GraphTime.seconds($0.end)] },
         "federated_credentials": app.federated.map { $0.json() }]
    }
}
