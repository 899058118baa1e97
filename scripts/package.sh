#!/usr/bin/env bash
# Builds dist/vault_VERSION_ARCH.deb and dist/vault-VERSION-linux-ARCH.tar.gz from this checkout, then checks the
# .deb with lintian (no errors allowed). Installs what it needs first (dpkg-dev, lintian, man-db).
# vault-emulator is left out of both: it is a test and demo tool (a fake Entra ID with a throw-away CA), not something
# a server should run.
set -euo pipefail
cd "$(dirname "$0")/.."
VAULT_SKIP_VENV=1 scripts/setup.sh
need=()
for p in dpkg-dev lintian man-db binutils; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "package: installing ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

work="$(mktemp -d /tmp/vault-package.XXXXXX)"
trap 'rm -rf "$work"' EXIT
stage="$work/root"
read -r version revision < <(scripts/release-build.sh "$stage" /usr | tail -n 1)
arch="$(dpkg --print-architecture)"
doc="$stage/usr/share/doc/vault"

# Debian wants its own copyright and changelog files in the doc directory (a native package: changelog.gz).
rm -f "$doc/LICENSE"
{
  echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
  echo "Upstream-Name: vault"
  echo "Comment: /usr/bin/vault also contains, statically linked, the Swift standard library and runtime"
  echo " (Apache-2.0 with Runtime Library Exception), swift-argument-parser, swift-log, swift-crypto,"
  echo " swift-certificates and swift-asn1 (Apache-2.0), and BoringSSL inside swift-crypto (ISC and OpenSSL licenses)."
  echo
  echo "Files: *"
  echo "Copyright: 2026 the vault authors"
  echo "License: MIT"
  sed 's/^$/./; s/^/ /' LICENSE | sed '1,/^ Permission/{/^ Permission/!d}'
} >"$doc/copyright"
# The maintainer: VAULT_MAINTAINER, or the author of the commit being packaged.
maintainer="${VAULT_MAINTAINER:-$(git log -1 --format='%an <%ae>' 2>/dev/null || true)}"
case "$maintainer" in *?" <"*@*">") ;; *) echo "package: set VAULT_MAINTAINER='Name <email>' (got '$maintainer')" >&2; exit 64 ;; esac
changelog_date="$(date -u -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")"
{
  echo "vault ($version) unstable; urgency=medium"
  echo
  echo "  * Release built from git revision $revision."
  echo
  echo " -- $maintainer  $changelog_date"
} | gzip -9n >"$doc/changelog.gz"
chmod 0644 "$doc/copyright" "$doc/changelog.gz"

# Runtime dependencies: what the binary links (dpkg-shlibdeps: libc, libsodium), plus what vault loads with dlopen, so
# ldd does not show them: libcurl ("libcurl.so.4", on the first network call; CURLOPT_PROTOCOLS_STR needs 7.85.0) and
# OpenSSL 3's libcrypto ("libcrypto.so.3", only to read a PFX file).
mkdir -p "$work/shlibs/debian"
printf 'Source: vault\n\nPackage: vault\nArchitecture: any\n' >"$work/shlibs/debian/control"
shlibs="$(cd "$work/shlibs" && dpkg-shlibdeps -O -e"$stage/usr/bin/vault" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
[ -n "$shlibs" ] || { echo "package: dpkg-shlibdeps found no dependencies" >&2; exit 70; }
# DT_RELR (scripts/release-build.sh) needs glibc 2.36: the binary requires the version GLIBC_ABI_DT_RELR, which has
# no symbols, so dpkg-shlibdeps does not count it (it says libc6 (>= 2.35)). Raise the libc6 bound to match.
if readelf -V "$stage/usr/bin/vault" | grep 'GLIBC_ABI_DT_RELR' >/dev/null; then
  libc_min="$(printf '%s\n' "$shlibs" | tr ',' '\n' | sed -n 's/^ *libc6 (>= \([^)]*\)).*/\1/p')"
  if [ -z "$libc_min" ] || dpkg --compare-versions "$libc_min" lt 2.36; then
    others="$(printf '%s\n' "$shlibs" | tr ',' '\n' | sed -n 's/^ *//; /^libc6 /!p' | paste -sd, - | sed 's/,/, /g')"
    shlibs="libc6 (>= 2.36)${others:+, $others}"
  fi
fi
depends="$shlibs, libcurl4 (>= 7.85.0), libssl3 (>= 3.0.0)"
installed_size="$(du -sk --apparent-size "$stage" | cut -f1)"

mkdir -p "$stage/DEBIAN"
cat >"$stage/DEBIAN/control" <<EOF
Package: vault
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: $depends
Section: admin
Priority: optional
Description: encrypted store for Microsoft Entra ID app credentials
 vault keeps the client secrets of Entra ID (Azure AD) daemon apps encrypted
 on disk with libsodium and uses them for the OAuth2 client-credentials flow,
 Microsoft Graph calls and secret rotation, without a plaintext secret in a
 config file, a command line or a log. Access tokens are cached, encrypted,
 in MSAL's cache schema.
 .
 This is not HashiCorp Vault, which is packaged under the same name and also
 installs /usr/bin/vault.
EOF
(cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"

mkdir -p dist
deb="dist/vault_${version}_${arch}.deb"
tarball="dist/vault-${version}-linux-${arch}.tar.gz"
rm -f "$deb" "$tarball"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
rm -rf "$stage/DEBIAN"
# The tarball: the same tree without Debian's metadata, relative to a prefix (bin/, share/...), plus LICENSE.
cp LICENSE "$doc/LICENSE"
tar --owner=0 --group=0 --numeric-owner --sort=name --mtime="@$(git log -1 --format=%ct 2>/dev/null || date +%s)" \
  -C "$stage/usr" -czf "$tarball" --transform "s,^\.,vault-$version," .

echo "== lintian $deb"
lintian --fail-on error --suppress-tags-from-file /dev/null "$deb" || { echo "package: lintian reported errors" >&2; exit 1; }
echo "built $deb ($(du -k "$deb" | cut -f1) KiB) and $tarball ($(du -k "$tarball" | cut -f1) KiB): vault $version (git $revision)"
