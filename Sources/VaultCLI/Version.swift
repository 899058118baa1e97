import VaultSystem

package enum VaultVersion {
    /// The release number; scripts/package.sh reads it from here for the package version (one source of truth).
    package static let number = "0.1.0"
    /// `vault --version`: the number and the git revision of a packaged or installed build (scripts/package.sh and
    /// scripts/install.sh compile it in); a plain `swift build` says it does not know its revision.
    package static var string: String {
        guard let revision = BuildInfo.revision else { return "vault \(number) (revision unknown: not a release build)" }
        return "vault \(number) (git \(revision))"
    }
}
