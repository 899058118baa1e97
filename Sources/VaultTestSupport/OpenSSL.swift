import Foundation
import VaultCrypto

/// Certificates and keys made by Debian's openssl, the tool people make them with.
public struct OpenSSL {
    public init() {}
    public let dir = TemporaryDirectory("pki")

    @discardableResult
    public func run(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: dir.path)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw EmulatorHarness.HarnessError(message: "openssl \(args.joined(separator: " ")) failed") }
        return String(decoding: data, as: UTF8.self)
    }

    /// key.pem (PKCS#8) and cert.pem, self-signed, `bits` RSA.
    public func selfSigned(_ name: String, bits: Int = 2048) throws {
        try run(["req", "-x509", "-newkey", "rsa:\(bits)", "-nodes", "-keyout", "\(name).key", "-out", "\(name).crt", "-days", "30",
                 "-subj", "/CN=\(name)"])
    }

    public func bytes(_ file: String) -> SecretBytes {
        var b = [UInt8](FileManager.default.contents(atPath: dir.file(file)) ?? Data())
        return SecretBytes(consuming: &b)
    }

    public func text(_ file: String) -> String { String(decoding: FileManager.default.contents(atPath: dir.file(file)) ?? Data(), as: UTF8.self) }

    /// openssl's SHA-1 fingerprint, upper-case hex without colons.
    public func sha1(_ certFile: String) throws -> String {
        let out = try run(["x509", "-in", certFile, "-noout", "-fingerprint", "-sha1"])
        return String(out.split(separator: "=").last ?? "").replacingOccurrences(of: ":", with: "").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

