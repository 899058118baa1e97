import ArgumentParser
import FleetBackend
import FoundationEssentials
import VaultCLI
import VaultErrors
import VaultHTTP
import VaultStore
import VaultTokens
#if canImport(Glibc)
import Glibc
#endif

package struct IssuerCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "issuer",
        abstract: "A fleet backend as the OIDC issuer of a federated credential: publish its documents, check the hosted copy.",
        discussion: """
        OpenBao's identity tokens (identity/oidc/token/ROLE) can stand in for a client secret: a federated identity \
        credential on the app trusts them. Entra fetches the issuer's discovery document and keys over public HTTPS; \
        `publish` writes both for static hosting, `check` reads the hosted copy as Entra would (docs/fleets.md, \
        "A fleet without a secret").
        """,
        subcommands: [IssuerPublish.self, IssuerCheck.self]
    )
}

package struct IssuerPublish: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Write a backend's OIDC discovery document and signing keys to DIR/.well-known/ for static hosting.",
        discussion: """
        Example: `vault issuer publish --backend fleet --out /srv/issuer`, then serve /srv/issuer at the issuer URL \
        (the backend's identity/oidc/config issuer followed by /v1/identity/oidc). The documents are public: files \
        0644, directories 0755, written atomically. Run it again after every key rotation (before the next one).
        """
    )

    @OptionGroup var options: VaultOptions
    @Option(help: ArgumentHelp("The stored backend whose issuer to publish.", valueName: "name")) var backend: String
    @Option(help: ArgumentHelp("Directory served at the issuer URL; the documents go to DIR/.well-known/.", valueName: "dir")) var out: String
    @Option(name: .customLong("jwks-uri"), help: ArgumentHelp("Where the key set will be served (default ISSUER/.well-known/keys).", valueName: "url"))
    var jwksURI: String?
    @Flag(name: [.short, .customLong("verbose")], help: "Log HTTP requests and responses to stderr, secrets redacted (-vv adds bodies).")
    var verbosity: Int

    package func run() throws {
        let (record, login) = try BackendService(vault: try options.vault(), unlock: try options.credential()).get(backend)
        let client = BackendService.client(record, login: login, transport: try backendTransport(record, verbosity: verbosity))
        let (discovery, keys) = try client.issuerDocuments()
        let publication = try OIDCIssuer.publication(discovery: discovery, keys: keys, jwksURI: jwksURI)
        if let engine = try? EndpointURL.parse(discovery.issuer), record.addresses.contains(engine.origin) {
            Console.warn("the issuer \(discovery.issuer) is the backend's own address: Entra will fetch the documents there, not from this copy")
            Console.hint("set the public issuer URL first: `bao write identity/oidc/config issuer=https://PUBLIC-HOST`")
        }
        for (key, why) in publication.skipped {
            Console.warn("key \(key.kid) left out: \(why)")
        }
        var dir = out
        while dir.count > 1, dir.hasSuffix("/") { dir.removeLast() }
        let wellKnown = dir + "/.well-known"
        let made = try Self.checkPublishDirectory(dir, wellKnown: wellKnown)
        try FileSystem.makeDirectories(wellKnown, mode: 0o755)
        // Public documents a web server (another user) must read: 0755 and 0644 whatever the umask, for the
        // directories vault made (those that existed keep their modes, checked above).
        for d in made where chmod(d, 0o755) != 0 {
            throw VaultError("io.write", "cannot set the mode of \(d): \(String(cString: strerror(errno)))", context: ["errno": String(errno)])
        }
        let keysName = publication.jwksURI == publication.issuer + "/.well-known/keys" ? "keys" : "keys.json"
        try FileSystem.writeAtomically(directory: wellKnown, name: keysName, bytes: publication.keySet, mode: 0o644, exactMode: true)
        try FileSystem.writeAtomically(directory: wellKnown, name: "openid-configuration", bytes: publication.discovery, mode: 0o644, exactMode: true)
        Console.out("Published the issuer \(publication.issuer) of backend '\(backend)': \(publication.kept.count) RS256 key(s) (\(publication.kept.map(\.kid).joined(separator: ", ")))")
        Console.out("  \(wellKnown)/openid-configuration  → serve at \(publication.issuer)/.well-known/openid-configuration")
        Console.out("  \(wellKnown)/\(keysName)  → serve at \(publication.jwksURI)")
    }
}

extension IssuerPublish {
    /// Whoever can put a key where the documents go can sign tokens Entra accepts, so every directory on the way must
    /// be this user's (or root's) alone: DIR and DIR/.well-known, when they exist, real directories owned by the user
    /// or root and writable by no one else; every directory above them not writable by others unless sticky (as
    /// /tmp). DIR/.well-known is never followed as a symbolic link. Returns the directories vault is to create.
    static func checkPublishDirectory(_ dir: String, wellKnown: String) throws -> [String] {
        func refuse(_ path: String, _ why: String, _ kase: String) -> VaultError {
            VaultError("issuer.out", "cannot publish into \(path): \(why); whoever can change it could add a signing key Entra would trust",
                       context: ["path": path, "case": kase])
        }
        let me = geteuid()
        func checkOwned(_ path: String, _ st: stat) throws {
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw refuse(path, "it is not a directory", "not_directory") }
            guard st.st_uid == me || st.st_uid == 0 else { throw refuse(path, "it belongs to uid \(st.st_uid)", "owner") }
            guard st.st_mode & 0o022 == 0 else {
                throw refuse(path, "it is writable by \(st.st_mode & 0o002 != 0 ? "every user" : "its group") (mode \(String(st.st_mode & 0o7777, radix: 8)))", "writable")
            }
        }
        var made: [String] = []
        var st = stat()
        var existing = dir
        // The part of DIR that does not exist yet is made by vault; the rest is checked.
        while lstat(existing, &st) != 0 {
            guard errno == ENOENT else { throw refuse(existing, String(cString: strerror(errno)), "stat") }
            made.insert(existing, at: 0)
            guard let slash = existing.lastIndex(of: "/") else { existing = "."; break }
            existing = slash == existing.startIndex ? "/" : String(existing[..<slash])
        }
        // DIR as given may be a link the user made; what it names is checked, and every directory above that.
        guard let resolved = realpath(existing, nil) else { throw refuse(existing, String(cString: strerror(errno)), "stat") }
        let real = String(cString: resolved)
        free(resolved)
        guard stat(real, &st) == 0 else { throw refuse(real, String(cString: strerror(errno)), "stat") }
        if made.isEmpty {
            try checkOwned(dir, st)
        } else if (st.st_mode & S_IFMT) != S_IFDIR {
            throw refuse(existing, "it is not a directory", "not_directory")
        } else if st.st_mode & 0o022 != 0 && st.st_mode & S_ISVTX == 0 {
            throw refuse(existing, "it is writable by others (mode \(String(st.st_mode & 0o7777, radix: 8))), who could replace what vault makes there", "writable")
        }
        var above = real
        while above != "/", let slash = above.lastIndex(of: "/") {
            above = slash == above.startIndex ? "/" : String(above[..<slash])
            guard stat(above, &st) == 0 else { throw refuse(above, String(cString: strerror(errno)), "stat") }
            if st.st_mode & 0o022 != 0 && st.st_mode & S_ISVTX == 0 {
                throw refuse(above, "it is writable by others (mode \(String(st.st_mode & 0o7777, radix: 8))), who could replace \(dir)", "writable")
            }
        }
        if made.isEmpty {
            if lstat(wellKnown, &st) == 0 {
                guard (st.st_mode & S_IFMT) != S_IFLNK else { throw refuse(wellKnown, "it is a symbolic link", "symlink") }
                try checkOwned(wellKnown, st)
            } else if errno == ENOENT {
                made.append(wellKnown)
            } else {
                throw refuse(wellKnown, String(cString: strerror(errno)), "stat")
            }
        } else {
            made.append(wellKnown)
        }
        return made
    }
}

package struct IssuerCheck: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a hosted issuer as Entra reads it: URL/.well-known/openid-configuration and its keys.",
        discussion: """
        Example: `vault issuer check --url https://issuer.example.com/v1/identity/oidc --backend fleet`. With --backend, \
        every live signing key of the backend must be in the hosted copy (a copy left behind by a key rotation makes \
        Entra refuse the tokens, AADSTS7000272). --ca-bundle is for the hosted copy; the backend is reached with its own \
        stored CA bundle. Exits non-zero on any mismatch.
        """
    )

    @OptionGroup var options: VaultOptions
    @OptionGroup var network: NetworkOptions
    @Option(help: ArgumentHelp("The issuer URL, exactly as the federated credential names it.", valueName: "url")) var url: String
    @Option(help: ArgumentHelp("Compare with this stored backend's live keys.", valueName: "name")) var backend: String?

    package func run() throws {
        guard url.hasPrefix("https://"), url.utf8.count <= 600, let parsed = try? EndpointURL.parse(url), parsed.origin.hasPrefix("https://") else {
            throw VaultError("issuer.url", "the issuer \(url) is not an https URL of at most 600 characters", context: ["url": url, "case": "input"])
        }
        var live: (issuer: String, keys: [OIDCIssuer.Key])?
        if let backend {
            let (record, login) = try BackendService(vault: try options.vault(), unlock: try options.credential()).get(backend)
            let (d, keys) = try BackendService.client(record, login: login, transport: try backendTransport(record, verbosity: network.verbosity)).issuerDocuments()
            live = (d.issuer, keys)
        }
        let (discovery, keys, notJSON) = try OIDCIssuer.hosted(url, transport: try network.transport())
        let findings = OIDCIssuer.check(url: url, discovery: discovery, keys: keys, notJSON: notJSON, live: live)
        for f in findings {
            Console.out("\(f.problem == nil ? "ok    " : "FAILED") \(f.checked)")
        }
        let problems = findings.compactMap(\.problem)
        guard let first = problems.first else {
            Console.out("The issuer \(url) is as Entra needs it (\(keys.count) key(s) at \(discovery.jwksURI))")
            return
        }
        for p in problems.dropLast() { Console.report(p) }
        throw problems.last ?? first
    }
}
