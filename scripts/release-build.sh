#!/usr/bin/env bash
# Builds the release `vault` and lays out everything a system install holds under STAGE/PREFIX:
#   bin/vault                                   static Swift standard library and libstdc++, stripped, PIE,
#                                               RELRO + BIND_NOW, DT_RELR (lld), no exported Swift symbols
#   share/man/man1/vault.1.gz, vault-*.1.gz     generated from the command definitions (swift-argument-parser's
#                                               generate-manual, then scripts/manpages.py)
#   share/bash-completion/completions/vault, zsh and fish completions
#   share/doc/vault/                            README.md, SECURITY.md, FORMAT.md, LICENSE, docs/ (the guides), examples/systemd/
# Used by scripts/package.sh (PREFIX=/usr) and scripts/install.sh. Usage: scripts/release-build.sh STAGE PREFIX
# Prints the version and the git revision it compiled in, as "VERSION REVISION", on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: scripts/release-build.sh STAGE PREFIX" >&2; exit 64; }
stage="$1"
prefix="$2"
case "$prefix" in /*) ;; *) echo "release-build: PREFIX must be an absolute path, not '$prefix'" >&2; exit 64 ;; esac

# One source of truth for the version: the Swift source that `vault --version` prints.
version="$(sed -n 's/^ *\(package \)\{0,1\}static let number = "\([0-9][0-9A-Za-z.+~-]*\)"$/\2/p' Sources/VaultCLI/Version.swift)"
[ -n "$version" ] || { echo "release-build: could not read VaultVersion.number from Sources/VaultCLI/Version.swift" >&2; exit 70; }
# The revision: a 12-digit commit id, "-dirty" when tracked files differ from it; "unknown" outside a git checkout.
if revision="$(git rev-parse --short=12 HEAD 2>/dev/null)"; then
  git diff --quiet HEAD -- 2>/dev/null || revision="$revision-dirty"
else
  revision="unknown"
fi
case "$revision" in *[!0-9a-z-]*) echo "release-build: unexpected revision '$revision'" >&2; exit 70 ;; esac

# A separate scratch path: the define below changes every compile command, and must not thrash .build.
scratch=.build-release
# Linking, for start-up time (issue 27; measured on a warm `vault token`, bench/token_warm.sh):
# - lld (the toolchain's ld.lld) instead of gold, for DT_RELR: `-z pack-relative-relocs` turns ~70,000 relative
#   relocations (1.7 MB of .rela.dyn) into 14 KB that ld.so applies in a tight loop. It needs glibc >= 2.36 at run
#   time (the binary requires the symbol-less version GLIBC_ABI_DT_RELR, which dpkg-shlibdeps does not count, so
#   scripts/package.sh raises the libc6 bound to 2.36 itself); Debian 12 has 2.36.
# - --no-export-dynamic: swiftc's static-stdlib link exports every Swift symbol of the package (24,760 dynamic
#   symbols); nothing looks them up, and the runtime's start-up dladdr() walked all of them. Now ~470 (the imports).
# - The C++ runtime and unwinder the Swift runtime needs, linked statically: loading libstdc++.so (mapping, its
#   relocations and its start-up initialisers, iostreams included) and libgcc_s.so was 0.4-0.9 ms of a 4-4.6 ms warm
#   token (interleaved runs); the archives add 70 KB. The static-stdlib link asks for -lstdc++ and clang for -lgcc_s
#   itself, so a directory searched before the compiler's own holds `libstdc++.so` and `libgcc_s.so` linker scripts
#   naming libstdc++.a and libgcc_eh.a (what -static-libstdc++ / -static-libgcc would link; from libstdc++-12-dev and
#   libgcc-12-dev, which the toolchain's link needs anyway).
# - Hardening kept: PIE, RELRO and BIND_NOW (-z relro -z now), measured with them.
clang="$(dirname "$(command -v swiftc)")/clang"
cxx_dir="$PWD/$scratch/static-libstdcxx"
install -d "$cxx_dir"
for pair in libstdc++.so:libstdc++.a libgcc_s.so:libgcc_eh.a; do
  archive="$("$clang" -print-file-name="${pair#*:}")"
  [ -f "$archive" ] || { echo "release-build: ${pair#*:} not found (apt-get install libstdc++-12-dev)" >&2; exit 69; }
  printf 'INPUT(%s)\n' "$archive" >"$cxx_dir/${pair%%:*}"
done
flags=(-c release --scratch-path "$scratch" --static-swift-stdlib --disable-local-rpath
       -Xcc "-DVAULT_GIT_REVISION=\"$revision\""
       -Xswiftc -use-ld=lld -Xlinker --no-export-dynamic -Xlinker -z -Xlinker pack-relative-relocs
       -Xswiftc -L"$cxx_dir"
       -Xlinker -z -Xlinker relro -Xlinker -z -Xlinker now)
echo "release-build: vault $version (git $revision), release, static Swift standard library" >&2
swift build "${flags[@]}" --product vault 2>&1 | grep -Ev "^\[|unhandled|CMakeLists|^ */.*CMakeLists" >&2 || true
swift build "${flags[@]}" --product generate-manual 2>&1 | grep -Ev "^\[|unhandled|CMakeLists|^ */.*CMakeLists" >&2 || true
bin="$(swift build "${flags[@]}" --show-bin-path)"
test -x "$bin/vault" && test -x "$bin/generate-manual"
printed="$("$bin/vault" --version)"
[ "$printed" = "vault $version (git $revision)" ] || { echo "release-build: the binary says '$printed'" >&2; exit 70; }

root="$stage$prefix"
rm -rf "$stage"
install -d -m 0755 "$root/bin" "$root/share/man/man1" "$root/share/doc/vault" \
  "$root/share/bash-completion/completions" "$root/share/fish/vendor_completions.d"
install -m 0755 "$bin/vault" "$root/bin/vault"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/bin/vault"

# Man pages: vault(1) and one page per subcommand (vault.add-app(1), vault.run.users(1), ...). The date is the
# commit's, so the same revision gives the same pages.
date="$(git log -1 --format=%cs 2>/dev/null || date -u +%F)"
man_tmp="$(mktemp -d)"
"$bin/generate-manual" "$root/bin/vault" --multi-page --date "$date" --authors "the vault authors" \
  --output-directory "$man_tmp" >/dev/null
python3 scripts/manpages.py "$man_tmp" "$man_tmp/out"
for page in "$man_tmp"/out/*.1; do
  gzip -9n <"$page" >"$root/share/man/man1/$(basename "$page").gz"
  chmod 0644 "$root/share/man/man1/$(basename "$page").gz"
done
rm -rf "$man_tmp"

# Completions, where each shell looks for vendor completions under this prefix.
if [ "$prefix" = /usr ]; then zsh_dir="$root/share/zsh/vendor-completions"; else zsh_dir="$root/share/zsh/site-functions"; fi
install -d -m 0755 "$zsh_dir"
# bash-completion sources the file, so no "#!" line (lintian: bash-completion-with-hashbang).
"$root/bin/vault" --generate-completion-script bash | sed '1{/^#!/d}' >"$root/share/bash-completion/completions/vault"
"$root/bin/vault" --generate-completion-script zsh >"$zsh_dir/_vault"
"$root/bin/vault" --generate-completion-script fish >"$root/share/fish/vendor_completions.d/vault.fish"
chmod 0644 "$root/share/bash-completion/completions/vault" "$zsh_dir/_vault" "$root/share/fish/vendor_completions.d/vault.fish"

install -m 0644 README.md SECURITY.md docs/FORMAT.md "$root/share/doc/vault/"
# The guides the README links (docs/…), so its links work in /usr/share/doc/vault too.
install -d -m 0755 "$root/share/doc/vault/docs"
install -m 0644 docs/*.md "$root/share/doc/vault/docs/"
install -m 0644 LICENSE "$root/share/doc/vault/LICENSE"
# Example service units (contrib/systemd/, once `vault serve` ships them) are documentation, not enabled services.
if [ -d contrib/systemd ]; then
  install -d -m 0755 "$root/share/doc/vault/examples/systemd"
  find contrib/systemd -maxdepth 1 -type f -exec install -m 0644 {} "$root/share/doc/vault/examples/systemd/" \;
fi
echo "$version $revision"
