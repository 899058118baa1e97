/// The national clouds vault knows (entra-token-protocol.md §1).
public enum Cloud: String, CaseIterable, Sendable {
    case global, usgov, china

    public var loginHost: String {
        switch self {
        case .global: "https://login.microsoftonline.com"
        case .usgov: "https://login.microsoftonline.us"
        case .china: "https://login.chinacloudapi.cn"
        }
    }

    public var graphRoot: String {
        switch self {
        case .global: "https://graph.microsoft.com"
        case .usgov: "https://graph.microsoft.us"
        case .china: "https://microsoftgraph.chinacloudapi.cn"
        }
    }

    public var graphScope: String { graphRoot + "/.default" }
}
