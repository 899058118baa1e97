import CSodium

extension SecretBytes {
    /// Decodes standard base64 (RFC 4648 §4, with padding; spaces, tabs and line breaks ignored, as in PEM bodies)
    /// straight into secret memory, with libsodium's constant-time decoder. nil when `text` is not entirely base64.
    public static func base64Decoded(_ text: UnsafeRawBufferPointer) -> SecretBytes? {
        try? Sodium.ready()
        guard let base = text.baseAddress?.assumingMemoryBound(to: CChar.self) else { return SecretBytes(count: 0) }
        let out = SecretBytes(count: text.count / 4 * 3 + 3)
        var length = 0
        var end: UnsafePointer<CChar>?
        let rc = out.withUnsafeMutableBytes { buf in
            sodium_base642bin(buf.baseAddress!.assumingMemoryBound(to: UInt8.self), buf.count, base, text.count, " \t\r\n",
                              &length, &end, Int32(sodium_base64_VARIANT_ORIGINAL))
        }
        guard rc == 0, let end, end == base + text.count else { return nil }
        return SecretBytes(copying: out.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0[0..<length]) })
    }
}
