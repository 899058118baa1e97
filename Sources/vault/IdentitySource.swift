import IdentityEndpoint
import VaultCore

/// Wires the managed-identity endpoint to the handout use case: selectors and resources go to `TokenHandout`'s
/// policy, its refusals become the HTTP status and JSON error the SDKs surface.
struct HandoutSource: IdentityTokenSource {
    let handout: TokenHandout

    func app(for request: IdentityRequest) throws(IdentityRefusal) -> TokenHandout.App {
        do {
            let app: TokenHandout.App
            switch request.selector {
            case .none: app = try handout.select(clientID: nil, otherSelector: nil)
            case .clientID(let id): app = try handout.select(clientID: id, otherSelector: nil)
            case .objectID: app = try handout.select(clientID: nil, otherSelector: "object_id/principal_id")
            case .resourceID: app = try handout.select(clientID: nil, otherSelector: request.kind == .imds ? "msi_res_id" : "mi_res_id")
            }
            try handout.checkResource(request.resource)
            return app
        } catch {
            throw Self.refusal(error)
        }
    }

    func cachedToken(for request: IdentityRequest, now: Int64) throws(IdentityRefusal) -> IdentityToken? {
        let app = try app(for: request)
        return handout.cached(app: app, resource: request.resource, now: now, peer: request.peer).map(Self.token)
    }

    func token(for request: IdentityRequest) throws(IdentityRefusal) -> IdentityToken {
        let app = try app(for: request)
        do {
            return Self.token(try handout.fetch(app: app, resource: request.resource, peer: request.peer))
        } catch {
            throw Self.refusal(error)
        }
    }

    static func token(_ s: TokenHandout.Served) -> IdentityToken {
        IdentityToken(token: s.token, expiresOn: s.expiresOn, clientID: s.clientID)
    }

    static func refusal(_ r: TokenHandout.Refusal) -> IdentityRefusal {
        switch r.kind {
        case .badRequest: return IdentityRefusal(status: 400, code: r.code, message: r.message)
        case .forbidden: return IdentityRefusal(status: 403, code: r.code, message: r.message)
        case .unavailable: return IdentityRefusal(status: 503, code: r.code, message: r.message)
        }
    }
}
