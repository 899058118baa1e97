import VaultCrypto
import VaultErrors
import VaultFormat

/// One app's token cache on disk for an unlocked vault: load, save (atomic, touching only this app's file), and the
/// app's byte of `tokens.lock` used for single flight. Fetches of different apps never wait for each other.
public struct TokenCacheStore: Sendable {
    public let directory: VaultDirectory
    public let app: String
    let vaultID: [UInt8]
    let master: SecretBytes
    /// The key-slot header of the `vault.db` this master key came from.
    let header: [UInt8]
    let fileID: [UInt8]

    public init(vault: UnlockedVault, directory: VaultDirectory, app: String) throws {
        self.directory = directory
        self.app = app
        vaultID = vault.file.vaultID
        master = vault.master
        header = vault.file.headerBytes()
        fileID = try TokenCacheFile.fileID(app: app, master: vault.master)
    }

    /// The file id in lower-case hex. Written out by hand: `joined()` over the digits' strings looks up conformances
    /// at run time, a scan of every conformance record of the binary on a warm `vault token`.
    public var fileName: String {
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(fileID.count * 2)
        for byte in fileID {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
    public var path: String { directory.tokensPath + "/" + fileName }

    /// The plaintext cache, nil when there is none. A damaged cache throws (`format.*`); callers discard it.
    public func load() throws -> SecretBytes? {
        guard let bytes = try FileSystem.read(path) else { return nil }
        do { return try TokenCacheFile.open(bytes, vaultID: vaultID, fileID: fileID, master: master) } catch let e as FormatError { throw e.vaultError }
    }

    /// Seals and writes the cache, but only while `vault.db` still has the key slots this master key came from: after
    /// a rekey (which deletes every cache under the whole token lock) a process that opened the vault before it never
    /// writes a cache under the old master key. Call with `withLock` held.
    public func save(_ plaintext: SecretBytes) throws {
        guard let current = try FileSystem.readPrefix(directory.secretsPath, count: header.count), current == header else {
            throw VaultError("cache.stale_key", "the vault's keys or format changed while this command ran (a rekey, a key change or an upgrade of the file), so its token was not cached")
        }
        guard plaintext.count <= TokenCacheFile.maxBody - AEAD.tagBytes else {
            throw VaultError("cache.full", "the token cache of '\(app)' would exceed \(TokenCacheFile.maxBody >> 20) MiB", context: ["app": app])
        }
        try directory.createTokensDirectory()
        try FileSystem.writeAtomically(directory: directory.tokensPath, name: fileName,
                                       bytes: try TokenCacheFile.seal(plaintext, vaultID: vaultID, fileID: fileID, master: master),
                                       lockedTemporary: true)
    }

    /// Deletes this app's cache file (call with `withLock` held).
    /// Deletes the cache file; nothing to do when the app never cached a token (not even the directory exists).
    public func remove() throws {
        guard FileSystem.exists(path) else { return }
        try FileSystem.remove(path)
        try FileSystem.syncDirectory(directory.tokensPath)
    }

    /// Holds this app's token lock: one process at a time fetches or writes its tokens.
    public func withLock<R>(_ body: () throws -> R) throws -> R {
        let lock = try RangeLock.tokens(directory, app: app)
        defer { lock.release() }
        return try body()
    }
}

/// Every app's cache at once: the whole token lock, deleting every cache file, and the version-1 `tokens.db`.
public struct TokenCaches: Sendable {
    public let directory: VaultDirectory
    let vault: UnlockedVault

    public init(vault: UnlockedVault, directory: VaultDirectory) {
        self.vault = vault
        self.directory = directory
    }

    public func store(app: String) throws -> TokenCacheStore { try TokenCacheStore(vault: vault, directory: directory, app: app) }

    /// Holds every app's token lock.
    public func withAllLocked<R>(_ body: () throws -> R) throws -> R {
        let lock = try RangeLock.allTokens(directory)
        defer { lock.release() }
        return try body()
    }

    /// Deletes every cache file, version 1 and 2, and syncs the directories (call with `withAllLocked` held).
    public func removeAll() throws { try directory.removeTokenCaches() }

    /// Whether a version-1 `tokens.db` is still there.
    public var hasVersion1: Bool { FileSystem.exists(directory.cachePath) }

    /// The plaintext of the version-1 `tokens.db`, nil when there is none; throws when it cannot be opened.
    public func loadVersion1() throws -> SecretBytes? {
        guard let bytes = try FileSystem.read(directory.cachePath) else { return nil }
        do { return try TokenCacheFile.openVersion1(bytes, vaultID: vault.file.vaultID, master: vault.master) } catch let e as FormatError { throw e.vaultError }
    }

    public func removeVersion1() throws {
        try FileSystem.remove(directory.cachePath)
        try FileSystem.syncDirectory(directory.path)
    }
}
