import Crypto
import Foundation

/// One directory user. Property values follow docs/emulator.md, "Synthetic users"; `nil` serialises as JSON null.
public struct DirectoryUser: Sendable {
    public var id: String
    public var displayName: String
    public var givenName: String?
    public var surname: String?
    public var mail: String?
    public var mailNickname: String?
    public var userPrincipalName: String
    public var jobTitle: String?
    public var officeLocation: String?
    public var businessPhones: [String]
    public var mobilePhone: String?
    public var preferredLanguage: String?
    public var accountEnabled: Bool
    public var department: String?
    public var city: String?
    public var country: String?
    public var usageLocation: String?
    public var companyName: String?
    public var employeeId: String?
    public var createdDateTime: String?
    public var userType: String
    public var identities: [[String: String]]
}

/// The deterministic user generator (docs/emulator.md, "Synthetic users"). The lists are versioned here: changing them
/// changes fixtures.
public enum SyntheticUsers {
    public static let listVersion = 1

    public static let given = [
        "Adele", "Alex", "Allan", "Bianca", "Brian", "Cameron", "Christie", "Debra", "Diego", "Emily", "Enrico", "Grady",
        "Henrietta", "Isaiah", "Irvin", "Johanna", "Joni", "Lee", "Lidia", "Lynne", "Megan", "Miriam", "Nestor", "Oscar",
        "Patti", "Pradeep", "Raul", "Sanjay", "Sofia", "Tomas", "Ursula", "Valentina", "Wilhelm", "Xavier", "Yasmin", "Zoe",
        "Amara", "Bjorn", "Chen", "Dmitri", "Elif", "Farah", "Gustavo", "Hana", "Ivan", "Jamal", "Keiko", "Lars", "Mateo",
        "Nadia", "Olga", "Priya", "Quentin", "Rosa", "Stefan", "Tariq",
    ]
    public static let surname = [
        "Vance", "Wilber", "Deyoung", "Pincher", "Johnson", "White", "Cline", "Berger", "Siciliani", "Braun", "Catteneo",
        "Archie", "Cleveland", "Curtis", "Sink", "Lauer", "Sherman", "Gu", "Holloway", "Robbins", "Bowen", "Graham", "Wilke",
        "Ward", "Fernandez", "Gupta", "Razi", "Patel", "Rossi", "Novak", "Schmidt", "Moreau", "Kowalski", "Larsen", "Okafor",
        "Tanaka", "Nguyen", "Silva", "Haddad", "Ivanova", "Yilmaz", "Jensen", "Murphy", "Kelly", "Fischer", "Dubois", "Costa",
        "Andersson", "Nakamura", "Mendes", "OBrien", "Petrov", "Quinn", "Sato",
    ]
    public static let jobs = [
        "Retail Manager", "Marketing Assistant", "Accountant", "Engineer", "Product Manager", "Designer", "Sales Manager",
        "Attorney", "Director", "Developer", "Support Engineer", "Data Analyst", "Recruiter", "Buyer", "Technician",
    ]
    public static let departments = [
        "Retail", "Marketing", "Finance", "Engineering", "Sales", "Legal", "Executive Management", "Human Resources",
        "Operations", "Research", "Support", "IT",
    ]
    /// (city, country, ISO code)
    public static let places: [(String, String, String)] = [
        ("Redmond", "United States", "US"), ("Seattle", "United States", "US"), ("New York", "United States", "US"),
        ("London", "United Kingdom", "GB"), ("Dublin", "Ireland", "IE"), ("Berlin", "Germany", "DE"), ("Munich", "Germany", "DE"),
        ("Paris", "France", "FR"), ("Lyon", "France", "FR"), ("Madrid", "Spain", "ES"), ("Milan", "Italy", "IT"),
        ("Warsaw", "Poland", "PL"), ("Stockholm", "Sweden", "SE"), ("Tokyo", "Japan", "JP"), ("Sydney", "Australia", "AU"),
        ("Toronto", "Canada", "CA"), ("Sao Paulo", "Brazil", "BR"), ("Bangalore", "India", "IN"),
    ]
    public static let externalDomains = ["adatum.com", "fabrikam.com", "litware.com", "northwindtraders.com", "tailspintoys.com", "wingtiptoys.com"]

    /// Generates `count` users (at least 4) for `domain` from `seed`.
    public static func generate(seed: String, count: Int, domain: String) -> [DirectoryUser] {
        let count = max(count, 4)
        var users: [DirectoryUser] = []
        users.reserveCapacity(count)
        var usedNicknames: Set<String> = ["admin", "adams", "$svc-backup"]
        for i in 0..<count {
            let h = Array(SHA256.hash(data: Data("\(seed):\(i)".utf8)))
            let g = Array(SHA256.hash(data: Data("\(seed):\(i):x".utf8)))
            let id = uuid(from: h)
            if i < 3 {
                users.append(fixedUser(i, id: id, domain: domain))
                continue
            }
            func u16(_ k: Int) -> Int { Int(h[k]) << 8 | Int(h[k + 1]) }
            let u32 = Int(g[3]) << 24 | Int(g[4]) << 16 | Int(g[5]) << 8 | Int(g[6])
            let givenName = given[u16(16) % given.count]
            let surnameValue = surname[u16(18) % surname.count]
            let base = givenName + String(surnameValue.prefix(1))
            var nick = base
            var n = 2
            while usedNicknames.contains(nick.lowercased()) { nick = base + String(n); n += 1 }
            usedNicknames.insert(nick.lowercased())
            let place = places[Int(g[2]) % places.count]
            let isGuest = i % 20 == 3
            var mail = "\(nick)@\(domain)"
            var upn = mail
            var mailNickname = nick
            if isGuest {
                let ext = externalDomains[Int(g[7]) % externalDomains.count]
                mail = "\(nick)@\(ext)"
                mailNickname = "\(nick)_\(ext)#EXT#"
                upn = "\(nick)_\(ext)#EXT#@\(domain)"
            }
            let created = Date(timeIntervalSince1970: 1_577_836_800 + Double(u32 % 157_680_000))
            let lang: String? = h[30] < 26 ? nil : h[30] < 38 ? "de-DE" : h[30] < 50 ? "fr-FR" : "en-US"
            users.append(DirectoryUser(
                id: id,
                displayName: "\(givenName) \(surnameValue)",
                givenName: givenName,
                surname: surnameValue,
                mail: mail,
                mailNickname: mailNickname,
                userPrincipalName: upn,
                jobTitle: h[20] < 51 ? nil : jobs[Int(h[21]) % jobs.count],
                officeLocation: h[22] < 77 ? nil : "\(10 + Int(h[23]) % 131)/\(1100 + u16(24) % 2101)",
                businessPhones: h[26] < 64 ? [] : ["+1 425 555 01" + twoDigits(Int(h[27]) % 100)],
                mobilePhone: h[28] < 128 ? nil : "+1 425 555 01" + twoDigits(Int(h[29]) % 100),
                preferredLanguage: lang,
                accountEnabled: g[0] >= 13,
                department: departments[Int(g[1]) % departments.count],
                city: place.0,
                country: place.1,
                usageLocation: place.2,
                companyName: "Contoso",
                employeeId: String(100_000 + i),
                createdDateTime: GraphTime.seconds(created),
                userType: isGuest ? "Guest" : "Member",
                identities: [["signInType": "userPrincipalName", "issuer": domain, "issuerAssignedId": upn]]
            ))
        }
        return users
    }

    public static func twoDigits(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    public static func uuid(from h: [UInt8]) -> String {
        var b = Array(h[0..<16])
        b[6] = (b[6] & 0x0F) | 0x40
        b[8] = (b[8] & 0x3F) | 0x80
        let hex = b.map { String(format: "%02x", $0) }.joined()
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-" + String(c[20..<32])
    }

    public static func fixedUser(_ i: Int, id: String, domain: String) -> DirectoryUser {
        var u = DirectoryUser(
            id: id, displayName: "", givenName: nil, surname: nil, mail: nil, mailNickname: nil, userPrincipalName: "",
            jobTitle: nil, officeLocation: nil, businessPhones: [], mobilePhone: nil, preferredLanguage: nil,
            accountEnabled: true, department: nil, city: nil, country: nil, usageLocation: nil, companyName: nil,
            employeeId: nil, createdDateTime: nil, userType: "Member", identities: [])
        switch i {
        case 0:
            u.displayName = "MOD Administrator"
            u.givenName = "MOD"
            u.surname = "Administrator"
            u.userPrincipalName = "admin@\(domain)"
            u.businessPhones = ["425-555-0100"]
            u.mobilePhone = "425-555-0101"
            u.preferredLanguage = "en-US"
        case 1:
            u.displayName = "Conf Room Adams"
            u.mail = "Adams@\(domain)"
            u.userPrincipalName = "Adams@\(domain)"
        default:
            u.displayName = "Backup Service"
            u.userPrincipalName = "$svc-backup@\(domain)"
        }
        return u
    }
}

/// Graph's timestamp shapes.
public enum GraphTime {
    public static let secondsFormatter: DateFormatter = {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss'Z'"
        return f
    }()
    public static let lock = NSLock()

    /// `2026-01-01T10:00:00Z`
    public static func seconds(_ d: Date) -> String { lock.withLock { secondsFormatter.string(from: d) } }

    /// `2026-01-01T10:00:00.1234567Z` (addPassword's generated timestamps)
    public static func sevenDigits(_ d: Date) -> String {
        let whole = d.timeIntervalSince1970.rounded(.down)
        let frac = Int(((d.timeIntervalSince1970 - whole) * 10_000_000).rounded(.down))
        let base = seconds(Date(timeIntervalSince1970: whole))
        return String(base.dropLast()) + "." + String(format: "%07d", frac) + "Z"
    }

    /// innerError `date`: `2026-01-01T10:00:00` (no fraction, no Z)
    public static func innerErrorDate(_ d: Date) -> String { String(seconds(d).dropLast()) }

    /// Entra's `timestamp`: `2026-01-01 10:00:00Z`
    public static func entraTimestamp(_ d: Date) -> String { seconds(d).replacingOccurrences(of: "T", with: " ") }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (any number of fraction digits).
    public static func parse(_ s: String) -> Date? {
        guard s.hasSuffix("Z") else { return nil }
        var body = String(s.dropLast())
        var fraction = 0.0
        if let dot = body.firstIndex(of: ".") {
            fraction = Double("0" + body[dot...]) ?? 0
            body = String(body[..<dot])
        }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: body + "Z").map { $0.addingTimeInterval(fraction) }
    }
}
