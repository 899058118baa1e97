import VaultCrypto
import VaultErrors
import VaultHTTP

/// The national clouds vault knows (docs/protocols.md, "Entra: clouds and authorities"). Tokens are not interchangeable
/// between them.
public enum Cloud: String, CaseIterable, Sendable {
    case global, usgov, usdod, china

    /// The login host new apps of this cloud use.
    public var loginHost: String {
        switch self {
        case .global: "login.microsoftonline.com"
        case .usgov, .usdod: "login.microsoftonline.us"
        case .china: "login.partner.microsoftonline.cn"
        }
    }

    /// Every login host accepted as this cloud's (China's older host is still accepted).
    public var loginHosts: [String] {
        self == .china ? [loginHost, "login.chinacloudapi.cn"] : [loginHost]
    }

    public var graphHost: String {
        switch self {
        case .global: "graph.microsoft.com"
        case .usgov: "graph.microsoft.us"
        case .usdod: "dod-graph.microsoft.us"
        case .china: "microsoftgraph.chinacloudapi.cn"
        }
    }

    public var graphRoot: String { "https://" + graphHost }

    /// The clouds whose login host is `host` (US Government and DoD share one).
    static func clouds(loginHost host: String) -> [Cloud] { allCases.filter { $0.loginHosts.contains(host) } }
    static func cloud(graphHost host: String) -> Cloud? { allCases.first { $0.graphHost == host } }
}

/// Where an app's tokens come from and where they go: its authority (login host) and Graph root, checked and
/// normalised. Known cloud hosts are accepted as they are; any other host is a *custom endpoint* (an emulator, a
/// test proxy) and must be asked for explicitly. The default token scope follows the Graph host — never only the
/// cloud — and a custom Graph host has no default scope at all, so a token for one resource never goes to another.
public struct AppEndpoints: Equatable, Sendable {
    public var cloud: Cloud
    /// `https://host[:port]`: the tenant is not part of it.
    public var authority: EndpointURL
    /// The Graph root, without a version segment.
    public var graph: EndpointURL

    public var authorityIsKnown: Bool { Self.isKnownHost(authority) && cloud.loginHosts.contains(authority.host) }
    public var graphIsKnown: Bool { Self.isKnownHost(graph) && graph.host == cloud.graphHost && graph.path.isEmpty }
    public var isCustom: Bool { !authorityIsKnown || !graphIsKnown }

    /// `https://GRAPHHOST/.default` for a known Graph host; nil for a custom one.
    public var defaultScope: String? { graphIsKnown ? "https://\(graph.host)/.default" : nil }

    static func isKnownHost(_ url: EndpointURL) -> Bool { url.scheme == "https" && url.port == nil }

    /// What `add-app` was given, resolved. `tenant` is `--tenant`; the authority may carry the tenant instead
    /// (MSAL's form, `https://login.microsoftonline.com/TENANT`). Returns the endpoints and the tenant to store.
    public static func resolve(cloud: Cloud?, authority: String?, graph: String?, tenant: String?,
                               allowCustom: Bool) throws -> (endpoints: AppEndpoints, tenant: String) {
        var authorityURL: EndpointURL?
        var tenantFromAuthority: String?
        if let authority {
            let url = try parse(authority, input: "authority")
            let segments = url.pathSegments
            guard segments.count <= 1 else {
                throw VaultError("app.url", "invalid authority '\(authority)': its path must be the tenant alone",
                                 context: ["case": "authority", "input": "authority", "value": authority])
            }
            tenantFromAuthority = segments.first
            authorityURL = EndpointURL(scheme: url.scheme, host: url.host, port: url.port, path: "")
        }
        var graphURL: EndpointURL?
        if let graph {
            let url = try parse(graph, input: "graph")
            // Graph roots are often pasted with their version; the version belongs to each request, not the root.
            var segments = url.pathSegments
            if let last = segments.last, ["v1.0", "beta"].contains(last.lowercased()) { segments.removeLast() }
            graphURL = EndpointURL(scheme: url.scheme, host: url.host, port: url.port,
                                   path: segments.isEmpty ? "" : "/" + segments.joined(separator: "/"))
        }

        let finalTenant: String
        switch (tenant, tenantFromAuthority) {
        case (let t?, let a?) where t.lowercased() != a.lowercased():
            throw VaultError("app.tenant", "the tenant '\(t)' and the authority's tenant ('\(a)') differ",
                             context: ["case": "conflict", "tenant": t, "authority_tenant": a])
        case (let t?, _): finalTenant = t
        case (nil, let a?): finalTenant = a
        case (nil, nil):
            throw VaultError("app.tenant", "no tenant given", context: ["case": "missing"])
        }

        // The cloud: as given, else the one the known hosts name, else global.
        let authorityClouds = authorityURL.map { isKnownHost($0) ? Cloud.clouds(loginHost: $0.host) : [] } ?? []
        let graphCloud = graphURL.flatMap { isKnownHost($0) && $0.path.isEmpty ? Cloud.cloud(graphHost: $0.host) : nil }
        let chosen = cloud ?? graphCloud ?? authorityClouds.first ?? .global
        if let graphCloud, graphCloud != chosen {
            throw VaultError("app.cloud", "the Graph root \(graphURL!) is the Graph of the \(graphCloud.rawValue) cloud, not of \(chosen.rawValue)",
                             context: ["case": "graph", "input": "graph", "value": graphURL!.description, "cloud": graphCloud.rawValue, "chosen": chosen.rawValue])
        }
        if !authorityClouds.isEmpty, !authorityClouds.contains(chosen) {
            throw VaultError("app.cloud", "the authority \(authorityURL!) signs in to the \(authorityClouds[0].rawValue) cloud, not to \(chosen.rawValue)",
                             context: ["case": "authority", "input": "authority", "value": authorityURL!.description, "cloud": authorityClouds[0].rawValue, "chosen": chosen.rawValue])
        }
        let endpoints = AppEndpoints(cloud: chosen, authority: authorityURL ?? EndpointURL(scheme: "https", host: chosen.loginHost, port: nil, path: ""),
                                     graph: graphURL ?? EndpointURL(scheme: "https", host: chosen.graphHost, port: nil, path: ""))
        if !allowCustom {
            if !endpoints.authorityIsKnown { throw customRefused("authority", endpoints.authority) }
            if !endpoints.graphIsKnown { throw customRefused("graph", endpoints.graph) }
        }
        return (endpoints, finalTenant)
    }

    /// The endpoints of a stored app (values written by `resolve`, or by older versions of vault: those are parsed
    /// again, and a value that would not be accepted today is refused rather than sent a secret).
    public static func stored(cloud: String, authority: String?, graph: String?) throws -> AppEndpoints {
        guard let c = Cloud(rawValue: cloud) else {
            throw VaultError("app.cloud", "the stored app names an unknown cloud '\(cloud)'", context: ["case": "stored"])
        }
        func url(_ text: String?, _ what: String, _ fallback: String) throws -> EndpointURL {
            guard let text else { return EndpointURL(scheme: "https", host: fallback, port: nil, path: "") }
            do { return try EndpointURL.parse(text) } catch {
                throw VaultError("app.url", "the stored \(what) '\(text)' is not a safe endpoint: \(error.reason)", context: ["case": "stored"])
            }
        }
        var graphURL = try url(graph, "Graph root", c.graphHost)
        if let last = graphURL.pathSegments.last, ["v1.0", "beta"].contains(last.lowercased()) {
            let kept = graphURL.pathSegments.dropLast()
            graphURL = EndpointURL(scheme: graphURL.scheme, host: graphURL.host, port: graphURL.port,
                                   path: kept.isEmpty ? "" : "/" + kept.joined(separator: "/"))
        }
        return AppEndpoints(cloud: c, authority: try url(authority, "authority", c.loginHost), graph: graphURL)
    }

    /// The values to store: nil where the cloud's own host is meant.
    public var storedAuthority: String? { authority == EndpointURL(scheme: "https", host: cloud.loginHost, port: nil, path: "") ? nil : authority.description }
    public var storedGraph: String? { graph == EndpointURL(scheme: "https", host: cloud.graphHost, port: nil, path: "") ? nil : graph.description }

    static func parse(_ text: String, input: String) throws -> EndpointURL {
        do { return try EndpointURL.parse(text) } catch {
            throw VaultError("app.url", "invalid \(input) '\(TerminalSafe.clip(text))': \(error.reason)",
                             context: ["input": input, "value": TerminalSafe.clip(text), "detail": error.reason])
        }
    }

    static func customRefused(_ input: String, _ url: EndpointURL) -> VaultError {
        VaultError("app.custom_endpoint", "the \(input) \(url) is not a Microsoft cloud endpoint vault knows",
                   context: ["input": input, "value": url.description,
                             "clouds": Cloud.allCases.map { $0.loginHosts.joined(separator: ", ") + " / " + $0.graphHost }.joined(separator: "; ")])
    }
}

/// Makes user-typed text safe to echo in one error line.
enum TerminalSafe {
    static func clip(_ s: String) -> String {
        let cleaned = String(s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "?" : Character($0) })
        return cleaned.count > 200 ? String(cleaned.prefix(200)) + "…" : cleaned
    }
}
