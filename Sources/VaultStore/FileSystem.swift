import VaultCrypto
import VaultErrors
import VaultFormat
import VaultRecords
#if canImport(Glibc)
import Glibc
#endif

/// Thin, checked wrappers over POSIX file calls.
public enum FileSystem {
    public struct Status: Sendable {
        public var mode: UInt32
        public var uid: UInt32
        public var size: Int
        public var isDirectory: Bool
    }

    public static func status(_ path: String) -> Status? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Status(mode: UInt32(st.st_mode), uid: st.st_uid, size: Int(st.st_size), isDirectory: (st.st_mode & S_IFMT) == S_IFDIR)
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func errorText() -> String { String(cString: strerror(errno)) }

    public static func makeDirectories(_ path: String, mode: mode_t) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            current += "/" + part
            if mkdir(current, mode) != 0 && errno != EEXIST {
                throw VaultError("io.mkdir", "cannot create \(current): \(errorText())")
            }
        }
    }

    /// Whole file, or nil when it does not exist. Files beyond `limit` bytes are refused.
    public static func read(_ path: String, limit: Int = 64 << 20) throws -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw VaultError("io.read", "cannot read \(path): \(errorText())", context: ["errno": String(errno)])
        }
        defer { close(fd) }
        var out: [UInt8] = []
        var st = stat()
        if fstat(fd, &st) == 0, st.st_size > 0, Int(st.st_size) <= limit {
            // One read of the size fstat reports (then the loop below picks up anything appended meanwhile).
            let size = Int(st.st_size)
            out = [UInt8](unsafeUninitializedCapacity: size) { buf, count in
                count = 0
                while count < size {
                    let n = Glibc.read(fd, buf.baseAddress! + count, size - count)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    count += n
                }
            }
        }
        var chunk = [UInt8](repeating: 0, count: out.isEmpty ? 65536 : 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw VaultError("io.read", "cannot read \(path): \(errorText())", context: ["errno": String(errno)])
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
            if out.count > limit { throw VaultError("io.read", "\(path) is larger than \(limit) bytes", context: ["case": "too_large"]) }
        }
        return out
    }

    /// The first `count` bytes of a file (fewer if it is shorter), or nil when it does not exist.
    public static func readPrefix(_ path: String, count: Int) throws -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw VaultError("io.read", "cannot read \(path): \(errorText())", context: ["errno": String(errno)])
        }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: count)
        var total = 0
        while total < count {
            let n = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + total, count - total) }
            if n < 0 { if errno == EINTR { continue }; throw VaultError("io.read", "cannot read \(path): \(errorText())", context: ["errno": String(errno)]) }
            if n == 0 { break }
            total += n
        }
        return Array(out[0..<total])
    }

    /// Reads a small file straight into secret memory (no checks beyond the size: see `readVerified`).
    public static func readSecret(_ path: String, limit: Int = 4096) throws -> SecretBytes {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            throw VaultError("io.read", "cannot read \(path): \(errorText())", context: ["errno": String(errno)])
        }
        defer { close(fd) }
        return try readAll(fd, path: path, limit: limit)
    }

    /// What a file that vault reads a credential or a trust anchor from must satisfy.
    public struct FileRule: Sendable {
        /// "key file", "passphrase file", "CA bundle"…, for the messages.
        public var what: String
        /// Refuse group/world-readable files (key and passphrase files).
        public var privateRead: Bool
        public init(what: String, privateRead: Bool) {
            self.what = what
            self.privateRead = privateRead
        }
    }

    /// Reads a credential or trust file into secret memory after checking the open descriptor itself (so the file
    /// checked is the file read): opened with O_NOFOLLOW (a symbolic link is refused) and O_NONBLOCK (a FIFO never
    /// hangs the open), then `fstat`: a regular file, owned by the caller or root, not writable by group or others,
    /// and with `privateRead` not readable by them either.
    public static func readVerified(_ path: String, rule: FileRule, limit: Int) throws -> SecretBytes {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
        if fd < 0 {
            let e = errno
            switch e {
            case ENOENT: throw VaultError("io.missing", "the \(rule.what) \(path) does not exist")
            case ELOOP:
                throw VaultError("file.symlink", "the \(rule.what) \(path) is a symbolic link, which vault does not follow", context: ["path": path])
            default:
                throw VaultError("io.read", "cannot open the \(rule.what) \(path): \(String(cString: strerror(e)))", context: ["errno": String(e)])
            }
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw VaultError("io.read", "cannot stat \(path): \(errorText())", context: ["errno": String(errno)]) }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw VaultError("file.not_regular", "the \(rule.what) \(path) is not a regular file")
        }
        let me = geteuid()
        guard st.st_uid == me || st.st_uid == 0 else {
            throw VaultError("file.owner", "the \(rule.what) \(path) belongs to another user (uid \(st.st_uid))", context: ["path": path, "user": String(me)])
        }
        let mode = UInt32(st.st_mode) & 0o777
        if mode & 0o022 != 0 {
            throw VaultError("file.permissions", "the \(rule.what) \(path) is writable by group or others (mode \(String(mode, radix: 8)))", context: ["path": path])
        }
        if rule.privateRead, mode & 0o044 != 0 {
            throw VaultError("keyfile.permissions", "the \(rule.what) \(path) is readable by group or others (mode \(String(mode, radix: 8)))", context: ["path": path])
        }
        if Int(st.st_size) > limit {
            throw VaultError("io.read", "the \(rule.what) \(path) is larger than \(limit) bytes", context: ["case": "too_large"])
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        // Sized from fstat (locked secret memory is costly): a file that grew since is refused, not read in part.
        let size = Int(st.st_size)
        let data = try readAll(fd, path: path, limit: size)
        guard data.count == size else {
            throw VaultError("io.read", "the \(rule.what) \(path) changed while it was read", context: ["case": "changed"])
        }
        return data
    }

    /// Reads to the end into secret memory of `limit + 1` bytes; more than `limit` bytes is an error.
    static func readAll(_ fd: Int32, path: String, limit: Int) throws -> SecretBytes {
        let buffer = SecretBytes(count: limit + 1)
        var total = 0
        while total <= limit {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + total, $0.count - total) }
            if n < 0 { if errno == EINTR { continue }; throw VaultError("io.read", "cannot read \(path): \(errorText())", context: ["errno": String(errno)]) }
            if n == 0 { break }
            total += n
        }
        if total > limit { throw VaultError("io.read", "\(path) is larger than \(limit) bytes", context: ["case": "too_large"]) }
        return buffer.slice(0..<total)
    }

    static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws {
        var written = 0
        while written < buffer.count {
            let n = Glibc.write(fd, buffer.baseAddress! + written, buffer.count - written)
            if n < 0 { if errno == EINTR { continue }; throw VaultError("io.write", "cannot write \(path): \(errorText())", context: ["errno": String(errno)]) }
            written += n
        }
    }

    static let tempMarker = ".tmp-"

    /// Temp file in the same directory (created 0600 with O_EXCL), fsync, rename over `name`, fsync the directory.
    /// With `lockedTemporary`, the temp file is `.NAME.tmp` and any left by a writer that died is removed first: for a
    /// file only the holder of its lock writes, so cleaning up never needs to list the directory.
    /// With `exactMode`, the file gets `mode` whatever the umask (a public document a web server must read).
    public static func writeAtomically(directory: String, name: String, bytes: [UInt8], mode: mode_t = 0o600,
                                       lockedTemporary: Bool = false, exactMode: Bool = false) throws {
        try writeAtomically(directory: directory, name: name, parts: [bytes[...]], mode: mode, lockedTemporary: lockedTemporary, exactMode: exactMode)
    }

    /// `writeAtomically` of the concatenation of `parts`, without joining them in memory first.
    public static func writeAtomically(directory: String, name: String, parts: [ArraySlice<UInt8>], mode: mode_t = 0o600,
                                       lockedTemporary: Bool = false, exactMode: Bool = false) throws {
        let temp: String
        if lockedTemporary {
            temp = "\(directory)/.\(name).tmp"
            try remove(temp)
        } else {
            let suffix = SystemRandom().bytes(6).map { String($0, radix: 16) }.joined()
            temp = "\(directory)/.\(name)\(tempMarker)\(getpid())-\(suffix)"
        }
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw VaultError("io.write", "cannot create \(temp): \(errorText())", context: ["errno": String(errno)]) }
        var ok = false
        defer { if !ok { unlink(temp) } }
        do {
            defer { close(fd) }
            if exactMode, fchmod(fd, mode) != 0 { throw VaultError("io.write", "cannot set the mode of \(temp): \(errorText())", context: ["errno": String(errno)]) }
            for part in parts where !part.isEmpty { try part.withUnsafeBytes { try writeAll(fd, $0, path: temp) } }
            guard fsync(fd) == 0 else { throw VaultError("io.fsync", "fsync \(temp): \(errorText())") }
        }
        guard rename(temp, "\(directory)/\(name)") == 0 else {
            throw VaultError("io.rename", "cannot replace \(directory)/\(name): \(errorText())")
        }
        ok = true
        try syncDirectory(directory)
    }

    /// Writes a new file that must not exist yet (0600), fsyncs it and its directory.
    public static func createExclusive(_ path: String, bytes: UnsafeRawBufferPointer, mode: mode_t = 0o600) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else {
            throw VaultError("io.create", "cannot create \(path): \(errorText())", context: ["errno": String(errno)])
        }
        // A file this call created is removed again if it cannot be completed: never a half-written key or export.
        var complete = false
        defer { if !complete { unlink(path) } }
        do {
            defer { close(fd) }
            try writeAll(fd, bytes, path: path)
            guard fsync(fd) == 0 else { throw VaultError("io.fsync", "fsync \(path): \(errorText())") }
        }
        complete = true
        let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        try syncDirectory(dir.isEmpty ? "/" : dir)
    }

    /// Overwrites a regular file (not followed through a symbolic link) with zeros, fsyncs it, unlinks it and
    /// fsyncs its directory. On copy-on-write or flash storage the old blocks may survive the overwrite: callers say so.
    public static func shred(_ path: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { throw VaultError("io.shred", "cannot open \(path) to overwrite it: \(errorText())") }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw VaultError("io.shred", "\(path) is not a regular file; it was not overwritten")
        }
        do {
            defer { close(fd) }
            let zeros = [UInt8](repeating: 0, count: 65536)
            var left = Int(st.st_size)
            while left > 0 {
                let n = min(left, zeros.count)
                try zeros.withUnsafeBytes { try writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[0..<n]), path: path) }
                left -= n
            }
            guard fsync(fd) == 0 else { throw VaultError("io.fsync", "fsync \(path): \(errorText())") }
        }
        try remove(path)
        let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        try syncDirectory(dir.isEmpty ? "/" : dir)
    }

    public static func syncDirectory(_ directory: String) throws {
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { throw VaultError("io.fsync", "cannot open \(directory): \(errorText())") }
        defer { close(dfd) }
        guard fsync(dfd) == 0 else { throw VaultError("io.fsync", "fsync \(directory): \(errorText())") }
    }

    public static func remove(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT {
            throw VaultError("io.remove", "cannot remove \(path): \(errorText())")
        }
    }

    /// Deletes temp files left by writers that died before their rename. Call only while holding the lock.
    static func removeStaleTemporaries(in directory: String, of file: String) {
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        var stale: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name.hasPrefix("." + file + tempMarker) { stale.append(name) }
        }
        for name in stale { unlink(directory + "/" + name) }
    }
}

/// An exclusive `flock` on a lock file, released on `release()` (or when the process dies).
final class FileLock {
    private var fd: Int32

    init(path: String) throws {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw VaultError("io.lock", "cannot open lock \(path): \(FileSystem.errorText())")
        }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            close(fd)
            throw VaultError("io.lock", "cannot lock \(path): \(FileSystem.errorText())")
        }
    }

    func release() {
        if fd >= 0 { flock(fd, LOCK_UN); close(fd); fd = -1 }
    }

    deinit { release() }
}
