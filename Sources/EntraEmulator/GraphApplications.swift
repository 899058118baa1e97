import EmulatorDirectory
import Foundation

/// `/v1.0/applications/{id}` and `/applications(appId='…')`: read, addPassword, removePassword (docs/protocols.md,
/// "Graph: addPassword and removePassword").
extension GraphError {
    static func badRequest(code: String, _ message: String) -> GraphError { GraphError(status: 400, code: code, message: message) }
}

struct GraphApplications: Sendable {
    let core: EmulatorCore
    static let secretAlphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-")
    static let twoYears: TimeInterval = 2 * 365.25 * 86400
    static let policyID = "00000000-0000-0000-0000-00000000a11c"

    func handle(_ x: Exchange, caller: Caller, rest: String) async throws -> Reply {
        if rest.isEmpty || rest.hasPrefix("?") { return try await list(x, caller: caller) }
        var key: String
        var action: String
        var byAppID = false
        if rest.hasPrefix("(appId='") || rest.hasPrefix("(appid='") {
            guard let close = rest.range(of: "')") else { throw GraphError.badRequest("Bad request. Please fix the request before retrying.") }
            key = String(rest[rest.index(rest.startIndex, offsetBy: 8)..<close.lowerBound])
            action = String(rest[close.upperBound...])
            byAppID = true
        } else {
            let parts = rest.dropFirst().split(separator: "/", maxSplits: 1).map(String.init)
            key = parts.first ?? ""
            action = parts.count > 1 ? "/" + parts[1] : ""
        }
        key = key.removingPercentEncoding ?? key
        let found = byAppID ? await core.state.app(key) : await core.state.app(objectID: key)
        guard var app = found, app.tenantID == caller.tenant.id else { throw GraphError.notFound(key) }
        let owner = caller.roles.contains("Application.ReadWrite.OwnedBy") && app.owners.contains(caller.servicePrincipalID)
        let canWrite = caller.roles.contains("Application.ReadWrite.All") || owner
        let canRead = canWrite || !caller.roles.isDisjoint(with: ["Application.Read.All", "Directory.Read.All", "Directory.ReadWrite.All"])

        switch (x.method, action) {
        case ("GET", ""):
            guard canRead else { throw GraphError.denied }
            return try entity(app, select: x.queryValue("$select"), expand: x.queryValue("$expand"))
        case ("POST", "/addPassword"):
            guard canWrite else { throw GraphError.denied }
            let body = x.body.isEmpty ? [:] : (try? JSONSerialization.jsonObject(with: x.body) as? [String: Any]) ?? nil
            guard let body else { throw GraphError.badRequest("Invalid JSON in request body.") }
            let cred = body["passwordCredential"] as? [String: Any] ?? [:]
            let now = Date()
            let start = (cred["startDateTime"] as? String).flatMap(GraphTime.parse) ?? now
            let startText = (cred["startDateTime"] as? String) ?? GraphTime.sevenDigits(now)
            let end = (cred["endDateTime"] as? String).flatMap(GraphTime.parse) ?? start.addingTimeInterval(Self.twoYears)
            let endText = (cred["endDateTime"] as? String) ?? GraphTime.sevenDigits(end)
            guard end > start else { throw GraphError.badRequest("Key credential end date is invalid.") }
            if let maxDays = await core.state.passwordLifetimeMaxDays, end.timeIntervalSince(start) > maxDays * 86_400 {
                throw GraphError.badRequest(code: "CredentialInvalidLifetimeAsPerAppPolicy",
                                            "Credential lifetime exceeds the max value allowed as per assigned policy '\(Self.policyID)'.")
            }
            if let max = await core.state.maxPasswords, app.passwords.count >= max {
                throw GraphError.badRequest(code: "Directory_ResourceSizeExceeded",
                                            "The size of the object has exceeded its limit. Please reduce the number of values and retry your request.")
            }
            let secret = Self.newSecret()
            let delay = await core.state.propagationDelay
            let lag = await core.state.replicationLag
            let pc = PasswordCredential(keyID: GUID.make(), secret: secret, hint: String(secret.prefix(3)),
                                        displayName: cred["displayName"] as? String, start: start, end: end,
                                        startText: startText, endText: endText, usableFrom: now.addingTimeInterval(delay),
                                        visibleFrom: now.addingTimeInterval(lag))
            app.passwords.append(pc)
            await core.state.update(app)
            var json = pc.json()
            json["secretText"] = secret
            json["@odata.context"] = "\(core.base)/v1.0/$metadata#microsoft.graph.passwordCredential"
            return .json(200, json, contentType: Reply.odataType)
        case ("POST", "/removePassword"):
            guard canWrite else { throw GraphError.denied }
            guard let body = try? JSONSerialization.jsonObject(with: x.body) as? [String: Any], let keyID = body["keyId"] as? String else {
                throw GraphError.badRequest("Required parameter 'keyId' is missing.")
            }
            // A replica that has not seen the password yet answers as if it did not exist (docs/protocols.md,
            // "Graph: credential propagation").
            let now = Date()
            guard let i = app.passwords.firstIndex(where: { $0.keyID == keyID.lowercased() && $0.visibleFrom <= now }) else {
                if await core.state.notFoundStatus == 404 {
                    throw GraphError(status: 404, code: "Request_ResourceNotFound", message: "No password credential found with keyId \(keyID).")
                }
                throw GraphError.badRequest("No password credential found with keyId \(keyID).")
            }
            let removed = app.passwords.remove(at: i)
            let lag = await core.state.replicationLag
            app.ghosts.removeAll { $0.until <= now }
            if lag > 0 { app.ghosts.append((removed, now.addingTimeInterval(lag))) }
            await core.state.update(app)
            return Reply(status: 204)
        case ("POST", "/addKey"):
            // Rolling the app's own keys needs no permission, only a proof signed by one of its current certificates.
            guard let body = try? JSONSerialization.jsonObject(with: x.body) as? [String: Any] else {
                throw GraphError.badRequest("Invalid JSON in request body.")
            }
            try checkProof(body["proof"], app: app)
            guard let kc = body["keyCredential"] as? [String: Any], kc["type"] as? String == "AsymmetricX509Cert",
                  kc["usage"] as? String == "Verify", let key = (kc["key"] as? String).flatMap({ Data(base64Encoded: $0) }) else {
                throw GraphError.badRequest("Invalid keyCredential: type AsymmetricX509Cert, usage Verify and a base64 certificate are required.")
            }
            var cert: CertificateCredential
            do { cert = try CertificateCredential(der: Array(key), keyID: GUID.make()) } catch {
                throw GraphError.badRequest(code: "KeyCredentialsInvalidKey", "Key credential is not a valid RSA X.509 certificate.")
            }
            guard cert.end > Date() else { throw GraphError.badRequest("Key credential end date is invalid.") }
            guard !app.certificates.contains(where: { $0.sha1 == cert.sha1 }) else {
                throw GraphError.badRequest(code: "KeyCredentialsInvalidKey", "A key credential with the same thumbprint already exists.")
            }
            cert.displayName = kc["displayName"] as? String
            cert.usableFrom = Date().addingTimeInterval(await core.state.propagationDelay)
            app.certificates.append(cert)
            await core.state.update(app)
            var json = cert.json()
            json["@odata.context"] = "\(core.base)/v1.0/$metadata#microsoft.graph.keyCredential"
            return .json(200, json, contentType: Reply.odataType)
        case ("POST", "/removeKey"):
            guard let body = try? JSONSerialization.jsonObject(with: x.body) as? [String: Any], let keyID = body["keyId"] as? String else {
                throw GraphError.badRequest("Required parameter 'keyId' is missing.")
            }
            try checkProof(body["proof"], app: app)
            guard let i = app.certificates.firstIndex(where: { $0.keyID == keyID.lowercased() }) else {
                throw GraphError.badRequest("No key credential found with keyId \(keyID).")
            }
            // The proof must not be signed by the key being removed alone: an app keeps at least one certificate it can prove.
            app.certificates.remove(at: i)
            await core.state.update(app)
            return Reply(status: 204)
        case ("PATCH", ""):
            // keyCredentials replaces the whole collection (passwordCredentials cannot be changed this way): every entry
            // carries its certificate (`key`), as a GET with $select=keyCredentials returns them. An entry with the keyId
            // and certificate of an existing key keeps that key.
            guard canWrite else { throw GraphError.denied }
            guard let body = try? JSONSerialization.jsonObject(with: x.body) as? [String: Any] else {
                throw GraphError.badRequest("Invalid JSON in request body.")
            }
            if body["passwordCredentials"] != nil {
                throw GraphError.badRequest("Property 'passwordCredentials' is read-only and cannot be set.")
            }
            guard let list = body["keyCredentials"] as? [[String: Any]] else { throw GraphError.badRequest("Nothing to update.") }
            var next: [CertificateCredential] = []
            for kc in list {
                guard kc["type"] as? String == "AsymmetricX509Cert", kc["usage"] as? String == "Verify",
                      let key = (kc["key"] as? String).flatMap({ Data(base64Encoded: $0) }),
                      var cert = try? CertificateCredential(der: Array(key), keyID: (kc["keyId"] as? String)?.lowercased() ?? GUID.make()) else {
                    throw GraphError.badRequest(code: "KeyCredentialsInvalidKey", "Invalid keyCredential in keyCredentials: type, usage and key are required.")
                }
                if let existing = app.certificates.first(where: { $0.keyID == cert.keyID }) {
                    guard existing.der == cert.der else {
                        throw GraphError.badRequest(code: "KeyCredentialsInvalidKey", "keyId \(cert.keyID) names another key.")
                    }
                    next.append(existing)
                    continue
                }
                cert.displayName = kc["displayName"] as? String
                cert.usableFrom = Date().addingTimeInterval(await core.state.propagationDelay)
                next.append(cert)
            }
            app.certificates = next
            await core.state.update(app)
            return Reply(status: 204)
        case (_, ""), (_, "/addPassword"), (_, "/removePassword"), (_, "/addKey"), (_, "/removeKey"):
            throw GraphError.methodNotAllowed
        default:
            throw GraphError.badRequest("Resource not found for the segment '\(action.dropFirst())'.")
        }
    }

    /// The proof of addKey/removeKey (docs/protocols.md, "Graph: addKey and removeKey"): a JWT signed by one of the
    /// app's current certificates, `aud` Azure AD Graph's app id, `iss` the application's object id, `exp` ≤ `nbf` + 10
    /// min. Graph's exact error body for a bad proof is undocumented; the emulator answers 400 `InvalidProof` naming
    /// the reason.
    func checkProof(_ value: Any?, app: AppRegistration) throws {
        func bad(_ why: String) -> GraphError { GraphError.badRequest(code: "InvalidProof", "The proof token is invalid: \(why).") }
        guard let proof = value as? String, !proof.isEmpty else { throw bad("no proof was sent") }
        guard let jwt = JWT.parse(proof) else { throw bad("it is not a JWT") }
        let now = Date()
        let s1 = (jwt.header["x5t"] as? String)?.unpadded
        let s256 = (jwt.header["x5t#S256"] as? String)?.unpadded
        guard let cert = app.certificates.first(where: { c in (s1 != nil && c.sha1 == s1) || (s256 != nil && c.sha256 == s256) }) else {
            throw bad("it is not signed by a certificate of the application")
        }
        guard cert.end > now, cert.usableFrom <= now else { throw bad("the signing certificate is not currently valid") }
        guard JWT.verify(jwt, key: cert.publicKey) else { throw bad("the signature does not verify") }
        guard jwt.claims["aud"] as? String == "00000002-0000-0000-c000-000000000000" else { throw bad("aud must be 00000002-0000-0000-c000-000000000000") }
        guard (jwt.claims["iss"] as? String)?.lowercased() == app.objectID else { throw bad("iss must be the application's object id") }
        guard let nbf = JWT.number(jwt.claims["nbf"]), let exp = JWT.number(jwt.claims["exp"]) else { throw bad("nbf and exp are required") }
        let t = now.timeIntervalSince1970
        guard nbf <= t + 300, exp > t else { throw bad("it is expired or not yet valid") }
        guard exp - nbf <= 600 + 5 else { throw bad("its lifetime exceeds 10 minutes") }
    }

    /// `GET /v1.0/applications?$filter=appId eq '…'`
    func list(_ x: Exchange, caller: Caller) async throws -> Reply {
        guard x.method == "GET" else { throw GraphError.methodNotAllowed }
        let readAll = !caller.roles.isDisjoint(with: ["Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All"])
        guard readAll || caller.roles.contains("Application.ReadWrite.OwnedBy") else { throw GraphError.denied }
        var apps = await core.state.allApps().filter { $0.tenantID == caller.tenant.id }
        if !readAll { apps = apps.filter { $0.owners.contains(caller.servicePrincipalID) } }
        if let filter = x.queryValue("$filter") {
            let parts = filter.split(separator: " ", maxSplits: 2).map(String.init)
            guard parts.count == 3, parts[0].lowercased() == "appid", parts[1] == "eq" else {
                throw GraphError.unsupported("Unsupported query.")
            }
            let value = parts[2].trimmingCharacters(in: CharacterSet(charactersIn: "'"))
            apps = apps.filter { $0.clientID == value.lowercased() }
        }
        let select = x.queryValue("$select")
        let expand = try Self.expandsFederated(x.queryValue("$expand"))
        let values = apps.map { app -> [String: Any] in
            var json = fields(app, select: select)
            if expand { json["federatedIdentityCredentials"] = app.federated.map { $0.json() } }
            return json
        }
        return .json(200, ["@odata.context": "\(core.base)/v1.0/$metadata#applications", "value": values], contentType: Reply.odataType)
    }

    func fields(_ app: AppRegistration, select: String?) -> [String: Any] {
        let all: [String: Any] = [
            "id": app.objectID, "appId": app.clientID, "displayName": app.displayName, "createdDateTime": app.createdText,
            "signInAudience": app.foreignServicePrincipals.isEmpty ? "AzureADMyOrg" : "AzureADMultipleOrgs",
            "passwordCredentials": app.visiblePasswords(at: Date()).map { $0.json() },
            "keyCredentials": app.certificates.map { $0.json() },
        ]
        guard let select else { return all }
        var out: [String: Any] = [:]
        for name in select.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if let k = all.keys.first(where: { $0.lowercased() == name.lowercased() }) { out[k] = all[k] }
        }
        return out
    }

    /// `$expand=federatedIdentityCredentials` is the one expansion the emulator knows on applications.
    static func expandsFederated(_ expand: String?) throws -> Bool {
        guard let expand else { return false }
        guard expand.trimmingCharacters(in: .whitespaces).lowercased() == "federatedidentitycredentials" else {
            throw GraphError.badRequest("Could not find a property named '\(expand)' on type 'microsoft.graph.application'.")
        }
        return true
    }

    func entity(_ app: AppRegistration, select: String?, expand: String? = nil) throws -> Reply {
        var json = fields(app, select: select)
        if try Self.expandsFederated(expand) { json["federatedIdentityCredentials"] = app.federated.map { $0.json() } }
        // A key's certificate is returned only on $select=keyCredentials for a single object.
        if json["keyCredentials"] != nil, select?.lowercased().contains("keycredentials") == true {
            json["keyCredentials"] = app.certificates.map { c -> [String: Any] in
                var k = c.json()
                k["key"] = c.der.base64EncodedString()
                return k
            }
        }
        let suffix = select.map { "(" + $0 + ")" } ?? ""
        json["@odata.context"] = "\(core.base)/v1.0/$metadata#applications\(suffix)/$entity"
        return .json(200, json, contentType: Reply.odataType)
    }

    /// 40 characters: 3 hint characters, 1 character, `Q~`, 34 characters, from `[A-Za-z0-9._~-]`.
    static func newSecret() -> String {
        var rng = SystemRandomNumberGenerator()
        func chars(_ n: Int) -> String { String((0..<n).map { _ in secretAlphabet[Int(rng.next() % UInt64(secretAlphabet.count))] }) }
        return chars(4) + "Q~" + chars(34)
    }
}
