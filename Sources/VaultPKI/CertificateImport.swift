import FoundationEssentials
import CPKCS12Shim
import VaultCrypto
import VaultErrors

/// Reads certificate credentials from the files people have: PEM (certificate and key in one file or two; PKCS#8 or
/// PKCS#1 keys) and PKCS#12/PFX. The bytes come from the caller (VaultPKI never opens files); key material stays in
/// `SecretBytes` except where a library copies it (see SECURITY.md).
public enum CertificateImport {
    /// Blocks of a PEM file: label and DER, decoded into secret memory. Text outside blocks is ignored (as OpenSSL
    /// does: "Bag Attributes" lines of exported files); a block that is not well-formed base64 is an error.
    public static func pemBlocks(_ text: SecretBytes) throws -> [(label: String, der: SecretBytes)] {
        try text.withUnsafeBytes { buf in
            var blocks: [(String, SecretBytes)] = []
            let begin = Array("-----BEGIN ".utf8), dashes = Array("-----".utf8)
            func find(_ needle: [UInt8], from start: Int) -> Int? {
                guard needle.count <= buf.count else { return nil }
                var i = start
                while i + needle.count <= buf.count {
                    if buf[i] == needle[0] && (0..<needle.count).allSatisfy({ buf[i + $0] == needle[$0] }) { return i }
                    i += 1
                }
                return nil
            }
            var at = 0
            while let b = find(begin, from: at) {
                let labelStart = b + begin.count
                guard let labelEnd = find(dashes, from: labelStart), labelEnd - labelStart <= 64 else {
                    throw VaultError("pem.invalid", "a PEM block has no complete BEGIN line")
                }
                guard let label = String(validating: UnsafeRawBufferPointer(rebasing: buf[labelStart..<labelEnd]), as: UTF8.self),
                      label.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) else {
                    throw VaultError("pem.invalid", "a PEM block's label is not text")
                }
                let end = Array("-----END \(label)-----".utf8)
                let bodyStart = labelEnd + dashes.count
                guard let bodyEnd = find(end, from: bodyStart) else {
                    throw VaultError("pem.invalid", "the PEM block '\(label)' has no END line")
                }
                guard let der = SecretBytes.base64Decoded(UnsafeRawBufferPointer(rebasing: buf[bodyStart..<bodyEnd])), der.count > 0 else {
                    throw VaultError("pem.invalid", "the PEM block '\(label)' is not valid base64")
                }
                blocks.append((label, der))
                at = bodyEnd + end.count
            }
            return blocks
        }
    }

    /// A credential from PEM: the certificate(s) from `certificatePEM`, the key from `keyPEM` or, when nil, from the
    /// same text. The leaf is the certificate whose public key matches the key; the others are kept as its chain.
    public static func fromPEM(_ certificatePEM: SecretBytes, keyPEM: SecretBytes? = nil) throws -> CertificateCredential {
        let certBlocks = try pemBlocks(certificatePEM)
        let keyBlocks = try keyPEM.map(pemBlocks) ?? certBlocks
        let certs = certBlocks.filter { $0.label == "CERTIFICATE" }.map { $0.der.withUnsafeBytes { Array($0) } }
        guard !certs.isEmpty else {
            throw VaultError("cert.missing", "no certificate (a 'BEGIN CERTIFICATE' block) in the PEM file")
        }
        if keyBlocks.contains(where: { $0.label == "ENCRYPTED PRIVATE KEY" }) ||
            keyPEM.map({ $0.withUnsafeBytes { Self.contains($0, "Proc-Type: 4,ENCRYPTED") } }) ?? false {
            throw VaultError("cert.key_encrypted", "the private key in the PEM file is encrypted with a password")
        }
        let keys = keyBlocks.filter { $0.label == "PRIVATE KEY" || $0.label == "RSA PRIVATE KEY" }
        guard keys.count == 1, let key = keys.first?.der else {
            throw VaultError("cert.key_missing", keys.isEmpty ? "no private key (a 'BEGIN PRIVATE KEY' or 'BEGIN RSA PRIVATE KEY' block) in the PEM input"
                                                              : "the PEM input holds \(keys.count) private keys; pass exactly one",
                             context: ["keys": String(keys.count)])
        }
        return try credential(certificates: certs, key: key)
    }

    /// A credential from PKCS#12/PFX with its password, read by Debian's OpenSSL 3 (`PKCS12_parse`, loaded on first
    /// use; the legacy provider too, for older RC2/3DES files). The key's DER is written straight into secret memory.
    public static func fromPKCS12(_ pfx: SecretBytes, password: SecretBytes) throws -> CertificateCredential {
        guard pfx.count < Int(Int32.max) else { throw VaultError("cert.pfx", "the PFX file is too large") }
        // NUL-terminated password in secret memory.
        let pw = SecretBytes(count: password.count + 1)
        pw.withUnsafeMutableBytes { dst in password.withUnsafeBytes { src in
            if src.count > 0 { dst.baseAddress!.copyMemory(from: src.baseAddress!, byteCount: src.count) }
        } }
        guard !password.withUnsafeBytes({ $0.contains(0) }) else {
            throw VaultError("cert.pfx", "the PFX password contains a NUL byte", context: ["case": "password_nul"])
        }
        var handle: OpaquePointer?
        let rc = pfx.withUnsafeBytes { data in
            pw.withUnsafeBytes { p in
                vault_pkcs12_open(data.baseAddress, Int32(data.count), p.baseAddress!.assumingMemoryBound(to: CChar.self), &handle)
            }
        }
        switch rc {
        case 0: break
        case -1:
            throw VaultError("cert.pfx_library", "PFX files are read with OpenSSL 3 (libcrypto.so.3), which is not installed")
        case -2: throw VaultError("cert.pfx", "the file is neither PEM nor PKCS#12/PFX")
        case -4: throw VaultError("cert.missing", "the PFX file holds no private key with its certificate")
        default:
            throw VaultError("cert.pfx", "the PFX file could not be opened: wrong password, or damaged", context: ["case": "password"])
        }
        defer { vault_pkcs12_close(handle) }
        let keyLength = vault_pkcs12_key_der(handle, nil, 0)
        guard keyLength > 0, keyLength < 1 << 16 else { throw VaultError("cert.key_invalid", "the PFX file's private key could not be read") }
        let key = SecretBytes(count: Int(keyLength))
        let written = key.withUnsafeMutableBytes { vault_pkcs12_key_der(handle, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32($0.count)) }
        guard written == keyLength else { throw VaultError("cert.key_invalid", "the PFX file's private key could not be read") }
        var certs: [[UInt8]] = []
        for i in 0..<Int(vault_pkcs12_certificate_count(handle)) {
            let n = vault_pkcs12_certificate_der(handle, Int32(i), nil, 0)
            guard n > 0, n < 1 << 20 else { continue }
            var der = [UInt8](repeating: 0, count: Int(n))
            let w = der.withUnsafeMutableBufferPointer { vault_pkcs12_certificate_der(handle, Int32(i), $0.baseAddress, n) }
            if w == n { certs.append(der) }
        }
        guard !certs.isEmpty else { throw VaultError("cert.missing", "the PFX file holds no certificate") }
        return try credential(certificates: certs, key: key)
    }

    static func credential(certificates: [[UInt8]], key: SecretBytes) throws -> CertificateCredential {
        let rsa = try CertificateCredential.rsaKey(key)
        // The key's size first: swift-certificates cannot even parse a certificate with a key below 2048 bits.
        try CertificateCredential.checkSize(rsa)
        let publicDER = rsa.publicKey.derRepresentation
        var leaf: Int?
        var infos: [CertificateInfo] = []
        for (i, der) in certificates.enumerated() {
            let info = try CertificateInfo(der: der)
            infos.append(info)
            if leaf == nil, let pub = try? CertificateInfo.spki(der), pub == Array(publicDER) { leaf = i }
        }
        guard let leaf else {
            // The match check of CertificateCredential gives the user-facing error.
            return try CertificateCredential(certificate: infos[0], chain: Array(certificates.dropFirst()), privateKey: key)
        }
        var chain = certificates
        chain.remove(at: leaf)
        return try CertificateCredential(certificate: infos[leaf], chain: chain, privateKey: key)
    }

    static func contains(_ buf: UnsafeRawBufferPointer, _ text: String) -> Bool {
        let needle = Array(text.utf8)
        guard needle.count <= buf.count else { return false }
        for i in 0...(buf.count - needle.count) where buf[i] == needle[0] {
            if (0..<needle.count).allSatisfy({ buf[i + $0] == needle[$0] }) { return true }
        }
        return false
    }
}
