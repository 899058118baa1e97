/// An error Graph answers with (graph-api.md §3).
struct GraphError: Error {
    var status: Int
    var code: String
    var message: String
    var retryAfter: String? = nil

    static func badRequest(_ message: String) -> GraphError { GraphError(status: 400, code: "Request_BadRequest", message: message) }
    static func unsupported(_ message: String) -> GraphError { GraphError(status: 400, code: "Request_UnsupportedQuery", message: message) }
    static func notFound(_ key: String) -> GraphError {
        GraphError(status: 404, code: "Request_ResourceNotFound",
                   message: "Resource '\(key)' does not exist or one of its queried reference-property objects are not present.")
    }
    static let denied = GraphError(status: 403, code: "Authorization_RequestDenied", message: "Insufficient privileges to complete the operation.")
    static func unauthorized(_ message: String) -> GraphError { GraphError(status: 401, code: "InvalidAuthenticationToken", message: message) }
    static let methodNotAllowed = GraphError(status: 405, code: "Request_BadRequest", message: "Specified HTTP method is not allowed for the request target.")
}
