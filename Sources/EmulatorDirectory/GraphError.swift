/// An error Graph answers with (docs/protocols.md, "Graph: error envelope").
public struct GraphError: Error, Sendable {
    public var status: Int
    public var code: String
    public var message: String
    public var retryAfter: String? = nil

    public init(status: Int, code: String, message: String, retryAfter: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public static func badRequest(_ message: String) -> GraphError { GraphError(status: 400, code: "Request_BadRequest", message: message) }
    public static func unsupported(_ message: String) -> GraphError { GraphError(status: 400, code: "Request_UnsupportedQuery", message: message) }
    public static func notFound(_ key: String) -> GraphError {
        GraphError(status: 404, code: "Request_ResourceNotFound",
                   message: "Resource '\(key)' does not exist or one of its queried reference-property objects are not present.")
    }
    public static let denied = GraphError(status: 403, code: "Authorization_RequestDenied", message: "Insufficient privileges to complete the operation.")
    public static func unauthorized(_ message: String) -> GraphError { GraphError(status: 401, code: "InvalidAuthenticationToken", message: message) }
    public static let methodNotAllowed = GraphError(status: 405, code: "Request_BadRequest", message: "Specified HTTP method is not allowed for the request target.")
}
