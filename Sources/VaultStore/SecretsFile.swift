import VaultCrypto
import VaultErrors
import VaultFormat
import VaultRecords
#if canImport(Glibc)
import Glibc
#endif

/// `vault.db` open for reading with `pread`: a version-2 reader reads the header, the index and then only the records
/// it needs. The descriptor keeps the inode it opened, and writers only ever rename a new file over the old one, so
/// every read sees the one file that was opened. A file that shrinks under it gives `format.truncated`, never a crash.
public final class SecretsFile: SealedInput, @unchecked Sendable {
    // @unchecked: `fd` is immutable and pread has no file position to share.
    let fd: Int32
    public let size: Int
    let path: String

    public init(path: String, limit: Int = VaultFile.maxFile) throws {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            if e == ENOENT { throw VaultError("vault.missing", "no vault at \(path)") }
            throw VaultError("io.read", "cannot read \(path): \(String(cString: strerror(e)))", context: ["errno": String(e)])
        }
        self.path = path
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            throw VaultError("io.read", "cannot read \(path): \(FileSystem.errorText())")
        }
        guard Int(st.st_size) <= limit else {
            close(fd)
            throw limit == VaultFile.maxFile ? FormatError.tooLarge.vaultError
                                             : VaultError("io.read", "\(path) is larger than \(limit) bytes", context: ["case": "too_large"])
        }
        size = Int(st.st_size)
    }

    /// Bytes `range` of the file; fewer bytes than asked (the file shrank) is `format.truncated`.
    public func read(_ range: Range<Int>) throws -> [UInt8] {
        guard range.lowerBound >= 0, range.upperBound <= size else { throw FormatError.truncated }
        let count = range.count
        var failure: Int32 = 0
        let out = [UInt8](unsafeUninitializedCapacity: count) { buf, done in
            done = 0
            while done < count {
                let n = pread(fd, buf.baseAddress! + done, count - done, off_t(range.lowerBound + done))
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failure = errno; break }
                if n == 0 { break }
                done += n
            }
        }
        if failure != 0 { throw VaultError("io.read", "cannot read \(path): \(String(cString: strerror(failure)))") }
        guard out.count == count else { throw FormatError.truncated }
        return out
    }

    deinit { close(fd) }
}
