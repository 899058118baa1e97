/// Where the codec reads a version-2 file from when it does not hold it whole: any byte source with a size and
/// ranged reads (the vault file open for `pread`, `SecretsFile` in VaultStore). A read outside `0..<size`, or one
/// that comes back short, throws `FormatError.truncated`.
public protocol SealedInput: Sendable {
    var size: Int { get }
    func read(_ range: Range<Int>) throws -> [UInt8]
}
