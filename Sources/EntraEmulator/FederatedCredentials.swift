import EmulatorDirectory
import Foundation

/// A federated identity credential (FIC) on an app registration: Entra exchanges a token from `issuer` about `subject`
/// for an access token (docs/emulator.md, "Federated identity credentials").
struct FederatedCredential: Sendable {
    var id: String
    var name: String
    var issuer: String
    var subject: String
    var audiences: [String]
    var description: String?
    /// When the token endpoint starts matching it (creation + propagation delay; AADSTS70021 before).
    var usableFrom: Date = .distantPast

    func json() -> [String: Any] {
        ["id": id, "name": name, "issuer": issuer, "subject": subject, "audiences": audiences,
         "description": description.map { $0 as Any } ?? NSNull()]
    }
}

/// The cloud the emulator stands in for: it decides the one audience a FIC may name.
public enum EmulatorCloud: String, Codable, Sendable {
    case global, usgov, china

    /// `api://AzureADTokenExchange` and its US Government and China counterparts.
    public var tokenExchangeAudience: String {
        switch self {
        case .global: "api://AzureADTokenExchange"
        case .usgov: "api://AzureADTokenExchangeUSGov"
        case .china: "api://AzureADTokenExchangeChina"
        }
    }
}

/// Entra's rules for a new FIC (Microsoft Entra docs, "Important considerations and restrictions for federated identity
/// credentials"), with the error bodies Graph is seen to answer where known (docs/emulator.md).
enum FederatedCredentialRules {
    static let maxPerApp = 20
    static let maxLength = 600

    /// Checks one new credential against the app's existing ones; returns it with a fresh id.
    static func validate(_ body: [String: Any], existing: [FederatedCredential], cloud: EmulatorCloud) throws -> FederatedCredential {
        func text(_ key: String) throws -> String {
            guard let value = body[key] as? String, !value.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw GraphError.badRequest("Federated identity credential property '\(key)' is required and must be a non-empty string.")
            }
            return value
        }
        let name = try text("name")
        let issuer = try text("issuer")
        let subject = try text("subject")
        guard let audiences = body["audiences"] as? [String] else {
            throw GraphError.badRequest("Federated identity credential property 'audiences' is required and must be a string collection.")
        }
        let description = body["description"] as? String

        // Name: 3–120 characters, letters, digits, '-' and '_', starting with a letter or digit.
        let nameOK = (3...120).contains(name.count)
            && name.unicodeScalars.allSatisfy { $0.isASCIIAlphanumeric || $0 == "-" || $0 == "_" }
            && name.unicodeScalars.first.map(\.isASCIIAlphanumeric) == true
        guard nameOK else { throw GraphError.badRequest("Federated Identity Credential name '\(name)' is invalid.") }
        guard audiences.count == 1 else { throw GraphError.badRequest("Federated identity credentials must have exactly one audience.") }
        for (key, value) in [("issuer", issuer), ("subject", subject), ("audiences", audiences[0]), ("description", description ?? "")]
        where value.count > maxLength {
            throw GraphError.badRequest("Federated identity credential property '\(key)' exceeds the limit of \(maxLength) characters.")
        }
        for (key, value) in [("name", name), ("issuer", issuer), ("subject", subject), ("audiences", audiences[0])] where value.contains("*") {
            throw GraphError.badRequest("Wildcard characters aren't supported in federated identity credential property '\(key)'.")
        }
        guard issuer == issuer.trimmingCharacters(in: .whitespacesAndNewlines),
              let url = URL(string: issuer), url.scheme != nil, url.host != nil else {
            throw GraphError(status: 400, code: "InvalidFederatedIdentityCredentialValue",
                             message: "Federated identity credential issuer '\(issuer)' is not a valid URL.")
        }
        guard audiences[0] == cloud.tokenExchangeAudience else {
            throw GraphError(status: 400, code: "InvalidFederatedIdentityCredentialValue",
                             message: "Federated identity credential audience '\(audiences[0])' is invalid: it must be '\(cloud.tokenExchangeAudience)'.")
        }
        guard existing.count < maxPerApp else {
            throw GraphError.badRequest("The application already has the maximum of \(maxPerApp) federated identity credentials.")
        }
        if existing.contains(where: { $0.name == name }) {
            throw GraphError(status: 409, code: "Request_MultipleObjectsWithSameKeyValue",
                             message: "FederatedIdentityCredential with name \(name) already exists.")
        }
        if existing.contains(where: { $0.issuer == issuer && $0.subject == subject }) {
            throw GraphError(status: 400, code: "InvalidFederatedIdentityCredentialValue",
                             message: "The combination of issuer and subject must be unique for the application. Issuer \(issuer) and Subject: \(subject) already exist. paramName: FederatedIdentityCredential.Subject, paramValue: \(subject), objectType: Microsoft.Online.DirectoryServices.Application")
        }
        return FederatedCredential(id: GUID.make(), name: name, issuer: issuer, subject: subject, audiences: audiences, description: description)
    }
}

extension Unicode.Scalar {
    var isASCIIAlphanumeric: Bool {
        (0x30...0x39).contains(value) || (0x41...0x5a).contains(value) || (0x61...0x7a).contains(value)
    }
}
