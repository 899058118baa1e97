import ArgumentParser
import FoundationEssentials
import VaultCLI
import VaultCore
import VaultErrors
import VaultTokens
import VaultRotation
import VaultCrypto
import VaultPKI
import VaultStore
import VaultFormat
import VaultRecords

extension JOSE.Algorithm: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.uppercased()) }
}

/// The certificate options of `add-app`: import from PEM/PFX files or generate inside vault.
package struct CertificateOptions: ParsableArguments {
    package init() {}
    @Option(name: .customLong("certificate"), help: ArgumentHelp("Import a certificate credential: a PEM file (certificate, and key unless --key) or a PKCS#12/PFX file (its password from the hidden prompt or stdin).", valueName: "file"))
    package var certificateFile: String?

    @Option(name: .customLong("key"), help: ArgumentHelp("With --certificate PEM: the private key's PEM file (PKCS#8 or PKCS#1).", valueName: "file"))
    package var keyFile: String?

    @Flag(name: .customLong("generate-certificate"), help: "Make a new RSA key pair and self-signed certificate inside the vault; only the public certificate leaves it (--public-out).")
    package var generate = false

    @Option(help: ArgumentHelp("With --generate-certificate: the subject (default CN=NAME).", valueName: "dn"))
    package var subject: String?

    @Option(help: ArgumentHelp("With --generate-certificate: validity, N followed by d, w or y (default 1y).", valueName: "duration"))
    package var valid: String?

    @Option(name: .customLong("key-size"), help: ArgumentHelp("With --generate-certificate: RSA key size, 2048, 3072 or 4096 (default 3072).", valueName: "bits"))
    package var keySize: Int?

    @Option(name: .customLong("public-out"), help: ArgumentHelp("With --generate-certificate: write the public certificate (PEM) here, for upload to the app registration.", valueName: "file"))
    package var publicOut: String?

    @Option(help: ArgumentHelp("Assertion signature: ps256 (with x5t#S256, default) or rs256 (with x5t, for clouds or authorities that need it).", valueName: "alg"))
    package var assertion: JOSE.Algorithm?

    @Flag(name: .customLong("send-x5c"), help: "Send the certificate chain in each assertion (x5c), for subject-name/issuer authentication.")
    package var sendX5C = false

    package var given: Bool { certificateFile != nil || generate }

    package func validate() throws {
        if certificateFile != nil && generate { throw ValidationError("--certificate and --generate-certificate exclude each other") }
        if keyFile != nil && certificateFile == nil { throw ValidationError("--key works only with --certificate") }
        if !generate && (subject != nil || valid != nil || keySize != nil || publicOut != nil) {
            throw ValidationError("--subject, --valid, --key-size and --public-out work only with --generate-certificate")
        }
        if generate && publicOut == nil { throw ValidationError("--generate-certificate needs --public-out FILE (the certificate to upload)") }
        if !given && (assertion != nil || sendX5C) { throw ValidationError("--assertion and --send-x5c need a certificate (--certificate or --generate-certificate)") }
    }

    /// Days of `--valid` (1 day to 10 years).
    package func validDays() throws -> Int {
        guard let valid else { return 365 }
        let units: [Character: Int] = ["d": 1, "w": 7, "y": 365]
        guard let unit = valid.last, let factor = units[unit], let n = Int(valid.dropLast()), n > 0, n <= 3650 else {
            throw VaultError("usage", "invalid --valid '\(valid)'", context: ["case": "valid"])
        }
        return n * factor
    }

    /// Everything checkable before any file is read or key made.
    package func check(appName: String) throws {
        if generate {
            _ = try validDays()
            if let keySize, !CertificateGeneration.allowedKeyBits.contains(keySize) {
                throw VaultError("cert.key_size", "--key-size must be 2048, 3072 or 4096 (got \(keySize))")
            }
            if let publicOut, FileSystem.exists(publicOut) {
                throw VaultError("io.create", "\(publicOut) already exists; vault never overwrites it", context: ["case": "public_out"])
            }
        }
    }

    /// The files that held a private key (for the warning, or --shred).
    package var keyFiles: [String] { [keyFile ?? certificateFile].compactMap { $0 } }

    /// Reads or makes the credential. Files are read into secret memory (no symbolic links, no FIFOs, owned by the
    /// caller); one readable by others is noted in `exposed`.
    package func load(appName: String, exposed: inout [String]) throws -> CertificateChoice? {
        let credential: CertificateCredential
        if generate {
            credential = try CertificateGeneration.generate(subject: subject ?? "CN=\(appName)", validDays: try validDays(),
                                                            keyBits: keySize ?? 3072)
        } else if let certificateFile {
            let rule = FileSystem.FileRule(what: "certificate file", privateRead: false)
            let bytes = try FileSystem.readVerified(certificateFile, rule: rule, limit: 1 << 20)
            if (FileSystem.status(certificateFile)?.mode ?? 0) & 0o044 != 0, keyFile == nil { exposed.append(certificateFile) }
            if bytes.withUnsafeBytes({ CertificateInput.looksLikePEM($0) }) {
                var keyBytes: SecretBytes?
                if let keyFile {
                    keyBytes = try FileSystem.readVerified(keyFile, rule: .init(what: "key file", privateRead: false), limit: 1 << 20)
                    if (FileSystem.status(keyFile)?.mode ?? 0) & 0o044 != 0 { exposed.append(keyFile) }
                }
                credential = try CertificateImport.fromPEM(bytes, keyPEM: keyBytes)
            } else {
                if keyFile != nil { throw VaultError("usage", "--key goes with a PEM certificate; a PFX file holds its key") }
                let password: SecretBytes
                if Console.stdinIsTerminal {
                    password = try Terminal.readHidden(prompt: "Password of \(certificateFile): ")
                } else {
                    password = try Prompts.readStdinSecret()
                }
                credential = try CertificateImport.fromPKCS12(bytes, password: password)
            }
        } else {
            return nil
        }
        return CertificateChoice(credential: credential, algorithm: assertion ?? .ps256, sendX5C: sendX5C)
    }
}

package enum CertificateInput {
    package static func looksLikePEM(_ b: UnsafeRawBufferPointer) -> Bool {
        let needle = Array("-----BEGIN ".utf8)
        guard b.count >= needle.count else { return false }
        for i in 0...(b.count - needle.count) where b[i] == 0x2d {
            if (0..<needle.count).allSatisfy({ b[i + $0] == needle[$0] }) { return true }
        }
        return false
    }

    /// The lines `add-app` and `show` print about a certificate.
    package static func describe(_ meta: AppMetadata) -> [(String, String)] {
        guard meta.certificate != nil else { return [] }
        var lines: [(String, String)] = [
            ("certificate", meta.certificateSubject ?? "?"),
            ("thumbprint", (meta.certificateSHA1 ?? "?") + "  (SHA-1, as the portal shows it)"),
            ("sha-256", meta.certificateSHA256 ?? "?"),
        ]
        if let e = meta.certificateExpires { lines.append(("cert expires", Format.date(e))) }
        if let k = meta.certificateKeyID { lines.append(("cert key id", k)) }
        return lines
    }
}
