/// A JSON value of a user property.
public enum PropertyValue: Equatable, Sendable {
    case null
    case string(String)
    case bool(Bool)
    case strings([String])
    case objects([[String: String]])

    public var text: String? {
        switch self {
        case .string(let s): s
        case .bool(let b): b ? "true" : "false"
        default: nil
        }
    }
}

/// User properties the emulator knows. The 11 defaults come first, in Graph's serialisation order.
public enum UserProperty: String, CaseIterable, Sendable {
    case businessPhones, displayName, givenName, jobTitle, mail, mobilePhone, officeLocation, preferredLanguage, surname
    case userPrincipalName, id
    case accountEnabled, userType, department, createdDateTime, mailNickname, city, country, usageLocation, companyName
    case employeeId, identities
    // Known but never set on synthetic users: always null / [].
    case postalCode, state, streetAddress, faxNumber, otherMails, proxyAddresses, ageGroup, employeeType
    case onPremisesSyncEnabled, externalUserState, creationType, imAddresses, legalAgeGroupClassification, assignedLicenses

    /// Multi-valued properties (`prop/$count` and lambdas apply to them).
    public var isCollection: Bool { [.businessPhones, .otherMails, .proxyAddresses, .imAddresses, .identities, .assignedLicenses].contains(self) }

    public static let defaults: [UserProperty] = [
        .businessPhones, .displayName, .givenName, .jobTitle, .mail, .mobilePhone, .officeLocation, .preferredLanguage,
        .surname, .userPrincipalName, .id,
    ]

    /// Properties that exist only on a single user: selecting one on the collection gives 501.
    public static let singleUserOnly: Set<String> = [
        "aboutme", "birthday", "hiredate", "interests", "mysite", "pastprojects", "preferredname", "responsibilities",
        "schools", "skills", "mailboxsettings",
    ]

    /// Case-insensitive lookup, as Graph matches property names.
    public static func named(_ name: String) -> UserProperty? {
        let lower = name.lowercased()
        return allCases.first { $0.rawValue.lowercased() == lower }
    }

    public func value(of u: DirectoryUser) -> PropertyValue {
        func s(_ v: String?) -> PropertyValue { v.map(PropertyValue.string) ?? .null }
        switch self {
        case .businessPhones: return .strings(u.businessPhones)
        case .displayName: return .string(u.displayName)
        case .givenName: return s(u.givenName)
        case .jobTitle: return s(u.jobTitle)
        case .mail: return s(u.mail)
        case .mobilePhone: return s(u.mobilePhone)
        case .officeLocation: return s(u.officeLocation)
        case .preferredLanguage: return s(u.preferredLanguage)
        case .surname: return s(u.surname)
        case .userPrincipalName: return .string(u.userPrincipalName)
        case .id: return .string(u.id)
        case .accountEnabled: return .bool(u.accountEnabled)
        case .userType: return .string(u.userType)
        case .department: return s(u.department)
        case .createdDateTime: return s(u.createdDateTime)
        case .mailNickname: return s(u.mailNickname)
        case .city: return s(u.city)
        case .country: return s(u.country)
        case .usageLocation: return s(u.usageLocation)
        case .companyName: return s(u.companyName)
        case .employeeId: return s(u.employeeId)
        case .identities: return .objects(u.identities)
        case .otherMails, .proxyAddresses, .imAddresses: return .strings([])
        case .assignedLicenses: return .objects([])
        default: return .null
        }
    }
}

/// Fast JSON writing for user pages (keys in the order given).
public enum UserJSON {
    public static func append(_ u: DirectoryUser, properties: [UserProperty], to out: inout String) {
        out += "{"
        for (i, p) in properties.enumerated() {
            if i > 0 { out += "," }
            out += "\""; out += p.rawValue; out += "\":"
            appendValue(p.value(of: u), to: &out)
        }
        out += "}"
    }

    public static func appendValue(_ v: PropertyValue, to out: inout String) {
        switch v {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .string(let s): appendString(s, to: &out)
        case .strings(let a):
            out += "["
            for (i, s) in a.enumerated() { if i > 0 { out += "," }; appendString(s, to: &out) }
            out += "]"
        case .objects(let objs):
            out += "["
            for (i, o) in objs.enumerated() {
                if i > 0 { out += "," }
                out += "{"
                for (j, key) in o.keys.sorted().enumerated() {
                    if j > 0 { out += "," }
                    appendString(key, to: &out); out += ":"; appendString(o[key]!, to: &out)
                }
                out += "}"
            }
            out += "]"
        }
    }

    public static func appendString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
