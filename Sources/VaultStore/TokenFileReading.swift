import VaultCrypto
import VaultErrors
#if canImport(Glibc)
import Glibc
#endif

extension FileSystem {
    /// Reads a token file someone else keeps fresh (a federated credential's `file:PATH`) into secret memory, from one
    /// descriptor: one `open`, `fstat` of that descriptor (a regular file, at most `limit` bytes), then the whole file
    /// read from it. A file replaced by rename (how the kubelet, tbot and most writers publish a token) is therefore
    /// read whole, old or new, never a mix. A file rewritten in place can still be read torn; the caller checks what
    /// it got and reads again.
    ///
    /// Symbolic links ARE followed, unlike `readVerified`: a Kubernetes projected token is reached through the links
    /// `token -> ..data/token` and `..data -> ..TIMESTAMP` (the kubelet swaps `..data` atomically), so refusing links
    /// would refuse every pod. What is checked is the file the descriptor ended at. Its owner and mode are not
    /// checked: the token is short-lived, its issuer and Entra ID's federated credential decide what it is worth,
    /// and projected tokens are commonly root-owned 0644 or 0600 with a group. O_NONBLOCK keeps a FIFO from hanging
    /// the open; O_NOCTTY keeps a terminal from becoming vault's.
    public static func readTokenFile(_ path: String, limit: Int) throws -> SecretBytes {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        if fd < 0 {
            let e = errno
            switch e {
            case ENOENT: throw VaultError("federated.file", "the token file \(path) does not exist", context: ["case": "missing", "path": path])
            default:
                throw VaultError("federated.file", "cannot open the token file \(path): \(String(cString: strerror(e)))",
                                 context: ["case": "unreadable", "path": path, "errno": String(e)])
            }
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw VaultError("federated.file", "cannot stat the token file \(path): \(errorText())", context: ["errno": String(errno), "case": "unreadable", "path": path])
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw VaultError("federated.file", "the token file \(path) is not a regular file", context: ["case": "not_regular", "path": path])
        }
        guard Int(st.st_size) <= limit else {
            throw VaultError("federated.file", "the token file \(path) is larger than \(limit) bytes, more than any token", context: ["case": "too_large", "path": path])
        }
        guard st.st_size > 0 else {
            throw VaultError("federated.file", "the token file \(path) is empty", context: ["case": "empty", "path": path])
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        do {
            return try readAll(fd, path: path, limit: limit)
        } catch let e as VaultError {
            throw VaultError("federated.file", "cannot read the token file \(path): \(e.reason)",
                             context: ["case": "unreadable", "path": path, "errno": e.context["errno"] ?? "0"])
        }
    }
}
