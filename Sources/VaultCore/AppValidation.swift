import VaultCrypto
import VaultErrors
import VaultRotation
import VaultTokens

/// Checks of what users type for an app, each throwing a `VaultError` that says what is wrong and how to fix it.
public enum AppValidation {
    public static func name(_ name: String) throws {
        let allowed = name.unicodeScalars.allSatisfy { c in
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "-" || c == "_" || c == "."
        }
        guard !name.isEmpty, name.count <= 64, allowed, name.first != "-", name.first != "." else {
            throw VaultError("app.name", "invalid app name '\(name)'")
        }
    }

    public static func isGUID(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.map(\.count) == [8, 4, 4, 4, 12] else { return false }
        // ASCII only: Character.isHexDigit also accepts fullwidth digits and letters.
        return parts.allSatisfy { $0.allSatisfy { $0.isASCII && $0.isHexDigit } }
    }

    public static func clientID(_ id: String) throws {
        guard isGUID(id) else {
            throw VaultError("app.client_id", "invalid client id '\(id)': expected a GUID like 22222222-2222-2222-2222-222222222222")
        }
    }

    /// A tenant GUID or a verified domain; the multi-tenant aliases are refused (app-only tokens need a tenant).
    public static func tenant(_ tenant: String) throws {
        if isGUID(tenant) { return }
        if ["common", "organizations", "consumers"].contains(tenant.lowercased()) {
            throw VaultError("app.tenant", "'\(tenant)' cannot be used for app-only tokens", context: ["case": "not_app_only"])
        }
        let labels = tenant.split(separator: ".", omittingEmptySubsequences: false)
        let valid = labels.count >= 2 && tenant.count <= 253 && labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-" &&
                label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
        guard valid else {
            throw VaultError("app.tenant", "invalid tenant '\(tenant)': expected a GUID or a domain")
        }
    }

}
