import Foundation

/// The result of running a built executable.
public struct RunResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var stdoutData: Data
}

/// Runs the built `vault` (and friends) as real processes, with no terminal (setsid is not needed: tests have no tty
/// attached under `swift test` in CI; `noTerminal` also clears it by running through `setsid` when available).
public enum VaultRunner {
    /// Where `swift build` put the executables: `VAULT_BIN_DIR`, else `.build/debug` of this package.
    public static var binDirectory: String {
        if let dir = ProcessInfo.processInfo.environment["VAULT_BIN_DIR"], !dir.isEmpty { return dir }
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent(".build/debug").path
    }

    public static var vaultPath: String { binDirectory + "/vault" }
    public static var emulatorPath: String { binDirectory + "/vault-emulator" }

    /// Runs `vault args…` with `stdin` bytes (nil = /dev/null), extra environment, detached from any terminal.
    public static func run(_ args: [String], stdin: Data? = nil, environment: [String: String] = [:],
                           executable: String = vaultPath, timeout: TimeInterval = 120) throws -> RunResult {
        let process = Process()
        // setsid detaches from the controlling terminal, so /dev/tty cannot be opened: prompts must fail, not hang.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        process.arguments = ["--wait", executable] + args
        var env = ProcessInfo.processInfo.environment
        for key in ["VAULT_DIR", "VAULT_KEY_FILE", "VAULT_PASSPHRASE_FILE", "CREDENTIALS_DIRECTORY", "VAULT_CA_BUNDLE"] {
            env.removeValue(forKey: key)
        }
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let outPipe = Pipe(), errPipe = Pipe(), inPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = stdin == nil ? FileHandle(forReadingAtPath: "/dev/null") : inPipe
        try process.run()
        if let stdin {
            try inPipe.fileHandleForWriting.write(contentsOf: stdin)
            try inPipe.fileHandleForWriting.close()
        }
        let outData = Reader(outPipe.fileHandleForReading)
        let errData = Reader(errPipe.fileHandleForReading)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                kill(process.processIdentifier, SIGKILL)
                break
            }
            usleep(2000)
        }
        process.waitUntilExit()
        let out = outData.finish(), err = errData.finish()
        return RunResult(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                         stderr: String(decoding: err, as: UTF8.self), stdoutData: out)
    }

    /// Starts `vault args…` without waiting (for kill loops and concurrency tests).
    public static func start(_ args: [String], stdin: Data? = nil, environment: [String: String] = [:],
                             stdout: FileHandle? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: vaultPath)
        process.arguments = args
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = stdout ?? FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        let inPipe = Pipe()
        process.standardInput = stdin == nil ? FileHandle(forReadingAtPath: "/dev/null") : inPipe
        try process.run()
        if let stdin {
            try? inPipe.fileHandleForWriting.write(contentsOf: stdin)
            try? inPipe.fileHandleForWriting.close()
        }
        return process
    }
}

/// Drains a pipe on a background thread so a chatty child never blocks on a full pipe.
final class Reader: @unchecked Sendable {
    // @unchecked: `data` is written by the reading thread and read only after `done` is signalled.
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func finish() -> Data {
        done.wait()
        return data
    }
}

/// A private temporary directory for one test, removed on deinit.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(_ prefix: String = "vault-test") {
        let template = NSTemporaryDirectory() + "/\(prefix)-XXXXXX"
        var bytes = Array(template.utf8CString)
        let p = bytes.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = p.map { String(cString: $0) } ?? template
        chmod(path, 0o700)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func file(_ name: String) -> String { path + "/" + name }

    /// Writes a file with mode 0600.
    @discardableResult
    public func write(_ name: String, _ data: Data, mode: Int = 0o600) -> String {
        let p = file(name)
        _ = FileManager.default.createFile(atPath: p, contents: data, attributes: [.posixPermissions: mode])
        return p
    }

    /// All bytes of every regular file under the directory, keyed by relative path.
    /// The per-app token cache files of the vault in `sub` (full paths).
    public func tokenCacheFiles(_ sub: String = "vault") -> [String] {
        let dir = file(sub) + "/tokens"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") }.sorted().map { dir + "/" + $0 }
    }

    /// Every file under `sub` and its bytes, except the audit log: it records failed attempts too, by design, so
    /// "the vault is unchanged" means every other file is (audit tests read the log itself).
    public func snapshot(_ sub: String = "") -> [String: Data] {
        var out: [String: Data] = [:]
        let root = sub.isEmpty ? path : file(sub)
        guard let e = FileManager.default.enumerator(atPath: root) else { return out }
        while let rel = e.nextObject() as? String {
            let full = root + "/" + rel
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDir), !isDir.boolValue,
               rel != "audit.log", !rel.hasSuffix("/audit.log"), let d = FileManager.default.contents(atPath: full) {
                out[rel] = d
            }
        }
        return out
    }
}
