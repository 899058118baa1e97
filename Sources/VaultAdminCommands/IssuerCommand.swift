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
        // Public documents a web server (another user) must read: 0755 and 0644 whatever the umask; the directories
        // vault makes are made safely, those that exist are checked (see preparePublishDirectory).
        let wellKnown = try Self.preparePublishDirectory(out)
        let keysName = publication.jwksURI == publication.issuer + "/.well-known/keys" ? "keys" : "keys.json"
        try FileSystem.writeAtomically(directory: wellKnown, name: keysName, bytes: publication.keySet, mode: 0o644, exactMode: true)
        try FileSystem.writeAtomically(directory: wellKnown, name: "openid-configuration", bytes: publication.discovery, mode: 0o644, exactMode: true)
        Console.out("Published the issuer \(publication.issuer) of backend '\(backend)': \(publication.kept.count) RS256 key(s) (\(publication.kept.map(\.kid).joined(separator: ", ")))")
        Console.out("  \(wellKnown)/openid-configuration  → serve at \(publication.issuer)/.well-known/openid-configuration")
        Console.out("  \(wellKnown)/\(keysName)  → serve at \(publication.jwksURI)")
    }
}

extension IssuerPublish {
    /// Whoever can put a key where the documents go can sign tokens Entra accepts, so DIR/.well-known must be this
    /// user's alone, and so must the way to it. Every directory on DIR's path, as given and as resolved, is owned by the
    /// user or root and writable by no one else — unless sticky (as /tmp), or writable only by the user's own private
    /// group (the umask-002 convention); a symbolic link on the path is owned by the user or root; `..` is refused.
    /// The directories still missing are made one by one (a name someone else took meanwhile is refused, never reused)
    /// and set to 0755 through a descriptor that does not follow links; an existing DIR/.well-known is never followed
    /// as a link. Returns the resolved path of DIR/.well-known.
    static func preparePublishDirectory(_ out: String) throws -> String {
        func refuse(_ path: String, _ why: String, _ kase: String) -> VaultError {
            VaultError("issuer.out", "cannot publish into \(path): \(why); whoever can change it could add a signing key Entra would trust",
                       context: ["path": path, "case": kase])
        }
        func failed(_ path: String) -> VaultError { refuse(path, String(cString: strerror(errno)), "stat") }
        guard !out.isEmpty else { throw VaultError("issuer.out", "--out is empty", context: ["case": "input", "path": out]) }
        var absolute = out
        if !out.hasPrefix("/") {
            guard let cwd = getcwd(nil, 0) else { throw failed(".") }
            absolute = String(cString: cwd) + "/" + out
            free(cwd)
        }
        let parts = absolute.split(separator: "/", omittingEmptySubsequences: true).map(String.init).filter { $0 != "." }
        if parts.contains("..") { throw VaultError("issuer.out", "--out \(out) goes up with '..'", context: ["case": "input", "path": out]) }

        let me = geteuid()
        let privateGroup: gid_t? = {
            guard let pw = getpwuid(me), let gr = getgrgid(pw.pointee.pw_gid) else { return nil }
            let alone = gr.pointee.gr_mem == nil || gr.pointee.gr_mem.pointee == nil
            return alone && String(cString: gr.pointee.gr_name) == String(cString: pw.pointee.pw_name) ? pw.pointee.pw_gid : nil
        }()
        func checkDirectory(_ path: String, _ st: stat) throws {
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw refuse(path, "it is not a directory", "not_directory") }
            guard st.st_uid == me || st.st_uid == 0 else { throw refuse(path, "it belongs to uid \(st.st_uid)", "owner") }
            let sticky = st.st_mode & S_ISVTX != 0
            let mode = String(st.st_mode & 0o7777, radix: 8)
            if st.st_mode & 0o002 != 0 && !sticky { throw refuse(path, "it is writable by every user (mode \(mode))", "writable") }
            if st.st_mode & 0o020 != 0 && !sticky && st.st_gid != privateGroup {
                throw refuse(path, "it is writable by its group (mode \(mode))", "writable")
            }
        }
        // The path as given: each part that exists (a link must be the user's or root's; what it leads to is checked
        // below, resolved).
        var st = stat()
        var existing = "/"
        var missing: [String] = []
        for (i, part) in parts.enumerated() {
            let path = (existing == "/" ? "" : existing) + "/" + part
            guard lstat(path, &st) == 0 else {
                guard errno == ENOENT else { throw failed(path) }
                missing = Array(parts[i...])
                break
            }
            if (st.st_mode & S_IFMT) == S_IFLNK {
                guard st.st_uid == me || st.st_uid == 0 else { throw refuse(path, "it is a symbolic link of uid \(st.st_uid)", "symlink") }
                guard stat(path, &st) == 0 else { throw failed(path) }
            }
            try checkDirectory(path, st)
            existing = path
        }
        // The same, resolved: every directory from / to the last that exists.
        guard let resolved = realpath(existing, nil) else { throw failed(existing) }
        let real = String(cString: resolved)
        free(resolved)
        var walked = ""
        for part in [""] + real.split(separator: "/").map(String.init) {
            walked += part.isEmpty ? "" : "/" + part
            let path = walked.isEmpty ? "/" : walked
            guard lstat(path, &st) == 0 else { throw failed(path) }
            try checkDirectory(path, st)
        }
        // DIR/.well-known when DIR exists: a directory of its own, never a link.
        var base = real == "/" ? "" : real
        if missing.isEmpty {
            let wellKnown = base + "/.well-known"
            if lstat(wellKnown, &st) == 0 {
                guard (st.st_mode & S_IFMT) != S_IFLNK else { throw refuse(wellKnown, "it is a symbolic link", "symlink") }
                try checkDirectory(wellKnown, st)
                return wellKnown
            }
            guard errno == ENOENT else { throw failed(wellKnown) }
        }
        for part in missing + [".well-known"] {
            let path = base + "/" + part
            guard mkdir(path, 0o700) == 0 else {
                if errno == EEXIST { throw refuse(path, "it appeared while vault was making it (someone else's?)", "race") }
                throw VaultError("io.mkdir", "cannot create \(path): \(String(cString: strerror(errno)))", context: ["errno": String(errno)])
            }
            let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw failed(path) }
            defer { close(fd) }
            guard fstat(fd, &st) == 0, st.st_uid == me, (st.st_mode & S_IFMT) == S_IFDIR else {
                throw refuse(path, "it is not the directory vault made", "race")
            }
            guard fchmod(fd, 0o755) == 0 else {
                throw VaultError("io.write", "cannot set the mode of \(path): \(String(cString: strerror(errno)))", context: ["errno": String(errno)])
            }
            base = path
        }
        return base
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
