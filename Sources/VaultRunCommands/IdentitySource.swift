import IdentityEndpoint
import VaultCLI
import VaultCore
import VaultTokens
import VaultRotation

/// Wires the managed-identity endpoint to the handout use case: selectors and resources go to `TokenHandout`'s
/// policy, its refusals become the HTTP status and JSON error the SDKs surface.
package struct HandoutSource: IdentityTokenSource {
    package let handout: TokenHandout

    /// The app the request selects and the spelling its resource is served under.
    package func resolve(_ request: IdentityRequest) throws(IdentityRefusal) -> (TokenHandout.App, String) {
        do {
            let app: TokenHandout.App
            switch request.selector {
            case .none: app = try handout.select(clientID: nil, otherSelector: nil)
            case .clientID(let id): app = try handout.select(clientID: id, otherSelector: nil)
            case .objectID: app = try handout.select(clientID: nil, otherSelector: "object_id/principal_id")
            case .resourceID: app = try handout.select(clientID: nil, otherSelector: request.kind == .imds ? "msi_res_id" : "mi_res_id")
            }
            return (app, try handout.resolve(request.resource, for: app))
        } catch {
            throw Self.refusal(error)
        }
    }

    package func cachedToken(for request: IdentityRequest, now: Int64) throws(IdentityRefusal) -> IdentityToken? {
        let (app, resource) = try resolve(request)
        do {
            return try handout.cached(app: app, resource: resource, now: now, peer: Self.peer(request.peer)).map(Self.token)
        } catch {
            throw Self.refusal(error)
        }
    }

    package func token(for request: IdentityRequest) throws(IdentityRefusal) -> IdentityToken {
        let (app, resource) = try resolve(request)
        do {
            return Self.token(try handout.fetch(app: app, resource: resource, peer: Self.peer(request.peer)))
        } catch {
            throw Self.refusal(error)
        }
    }

    package static func peer(_ p: IdentityPeer) -> TokenHandout.Peer {
        TokenHandout.Peer(address: p.address, uid: p.uid, pid: p.pid, command: p.command)
    }

    package static func token(_ s: TokenHandout.Served) -> IdentityToken {
        IdentityToken(token: s.token, expiresOn: s.expiresOn, clientID: s.clientID)
    }

    package static func refusal(_ r: TokenHandout.Refusal) -> IdentityRefusal {
        switch r.kind {
        case .badRequest: return IdentityRefusal(status: 400, code: r.code, message: r.message)
        case .forbidden: return IdentityRefusal(status: 403, code: r.code, message: r.message)
        case .unavailable: return IdentityRefusal(status: 503, code: r.code, message: r.message)
        }
    }
}
