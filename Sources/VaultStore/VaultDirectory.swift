import FoundationEssentials
import VaultCrypto
import VaultErrors
import VaultFormat
import VaultRecords
#if canImport(Glibc)
import Glibc
#endif

/// The vault's directory on disk: location, permissions, locking and atomic writes (docs/FORMAT.md §1).
public struct VaultDirectory: Sendable {
    public let path: String
    public static let secretsFileName = "vault.db"
    public static let cacheFileName = "tokens.db"
    public static let lockFileName = "vault.lock"
    public static let cacheLockFileName = "tokens.lock"
    /// The directory of the per-app token caches (format version 2).
    public static let tokensDirectoryName = "tokens"

    public init(path: String) { self.path = path }

    /// `--vault DIR`, else `VAULT_DIR`, else `$XDG_DATA_HOME/vault`, else `~/.local/share/vault`.
    public static func resolve(flag: String?, environment: [String: String]) throws -> VaultDirectory {
        if let flag, !flag.isEmpty { return VaultDirectory(path: flag) }
        if let dir = environment["VAULT_DIR"], !dir.isEmpty { return VaultDirectory(path: dir) }
        if let xdg = environment["XDG_DATA_HOME"], xdg.hasPrefix("/") { return VaultDirectory(path: xdg + "/vault") }
        guard let home = environment["HOME"], !home.isEmpty else {
            throw VaultError("vault.location", "cannot find the vault: HOME, XDG_DATA_HOME and VAULT_DIR are all unset")
        }
        return VaultDirectory(path: home + "/.local/share/vault")
    }

    public var secretsPath: String { path + "/" + Self.secretsFileName }
    /// The version-1 token cache of every app (read once, then migrated into `tokens/`).
    public var cachePath: String { path + "/" + Self.cacheFileName }
    public var tokensPath: String { path + "/" + Self.tokensDirectoryName }
    /// The audit log (§7): one JSON line per secret use and per token handed out.
    public var auditPath: String { path + "/audit.log" }

    /// Creates `tokens/` (0700) when it is missing.
    public func createTokensDirectory() throws {
        if mkdir(tokensPath, 0o700) != 0 && errno != EEXIST {
            throw VaultError("io.mkdir", "cannot create \(tokensPath): \(FileSystem.errorText())")
        }
    }

    /// Deletes every token cache (`tokens/*` and the version-1 `tokens.db`) and syncs both directories. Call holding
    /// every app's token lock.
    public func removeTokenCaches() throws {
        try FileSystem.remove(cachePath)
        if let dir = opendir(tokensPath) {
            var names: [String] = []
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(dir)
            for name in names { try FileSystem.remove(tokensPath + "/" + name) }
            try FileSystem.syncDirectory(tokensPath)
        }
        try FileSystem.syncDirectory(path)
    }

    public var exists: Bool { FileSystem.exists(secretsPath) }

    /// The vault's id from the header of `vault.db` (no key needed), or nil when there is no readable vault.
    public func vaultID() throws -> [UInt8]? {
        let fd = open(secretsPath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: 24)
        let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 24, 0) }
        guard n == 24, head[0..<6] == Array("VAULT/".utf8)[...], head[7] == 0x0a else { return nil }
        return Array(head[8..<24])
    }

    /// Creates the directory (and missing parents) with mode 0700 from the start.
    public func create() throws {
        try FileSystem.makeDirectories(path, mode: 0o700)
        try checkPermissions()
    }

    /// Refuses a directory or file readable or writable by group or others, or owned by someone else.
    public func checkPermissions() throws {
        guard let dir = FileSystem.status(path) else {
            throw VaultError("vault.missing", "no vault at \(path)")
        }
        if dir.uid != geteuid() {
            throw VaultError("vault.owner", "the vault directory \(path) belongs to another user")
        }
        if dir.mode & 0o077 != 0 {
            throw VaultError("vault.permissions", "the vault directory \(path) is accessible to group or others (mode \(String(dir.mode & 0o777, radix: 8)))", context: ["mode": "700", "path": path])
        }
        if let st = FileSystem.status(tokensPath), st.mode & 0o077 != 0 || st.uid != geteuid() {
            throw VaultError("vault.permissions", "\(tokensPath) is accessible to group or others, or belongs to another user (mode \(String(st.mode & 0o777, radix: 8)))", context: ["mode": "700", "path": tokensPath])
        }
        for name in [Self.secretsFileName, Self.cacheFileName] {
            let file = path + "/" + name
            if let st = FileSystem.status(file), st.mode & 0o077 != 0 {
                throw VaultError("vault.permissions", "\(file) is accessible to group or others (mode \(String(st.mode & 0o777, radix: 8)))", context: ["mode": "600", "path": file])
            }
        }
    }

    /// `vault.db` open for reading records one at a time.
    public func openSecrets() throws -> SecretsFile {
        try checkPermissions()
        return try SecretsFile(path: secretsPath)
    }

    public func readSecrets() throws -> [UInt8] {
        try checkPermissions()
        guard let bytes = try FileSystem.read(secretsPath) else {
            throw VaultError("vault.missing", "no vault at \(path)")
        }
        return bytes
    }

    /// Runs `body` holding the exclusive lock `lockName` (flock): `vault.lock` guards `vault.db`, `tokens.lock` guards
    /// `tokens.db`. First clears temp files of the guarded file that a killed writer left (only the lock holder writes
    /// them, so none belongs to a live writer).
    public func withExclusiveLock<R>(_ lockName: String = Self.lockFileName, _ body: () throws -> R) throws -> R {
        let lock = try FileLock(path: path + "/" + lockName)
        defer { lock.release() }
        let guarded = lockName == Self.lockFileName ? Self.secretsFileName : Self.cacheFileName
        FileSystem.removeStaleTemporaries(in: path, of: guarded)
        return try body()
    }

    /// Atomic replace of `name` in the directory: temp file (0600, O_EXCL), write, fsync, rename, fsync directory.
    public func writeAtomically(_ name: String, parts: [ArraySlice<UInt8>]) throws {
        try FileSystem.writeAtomically(directory: path, name: name, parts: parts)
    }

    public func writeAtomically(_ name: String, _ bytes: [UInt8]) throws {
        try FileSystem.writeAtomically(directory: path, name: name, bytes: bytes)
    }
}
