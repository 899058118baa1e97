#!/usr/bin/env bash
# A fresh Debian machine, as near as this sandbox gets: debootstrap a minimal bookworm into a directory, then
# `apt install ./vault_*.deb` inside it (apt resolves libsodium23 and libcurl4 from Debian's archive), run the
# installed vault and read a man page there. Needs root and Debian's mirror; takes a few minutes, so it is not part of
# scripts/test.sh (which tests the package extracted with dpkg-deb -x). Usage: bench/fresh_install.sh [DEB]
set -euo pipefail
cd "$(dirname "$0")/.."
deb="${1:-$(ls -t dist/vault_*.deb 2>/dev/null | head -n 1)}"
[ -n "$deb" ] && [ -f "$deb" ] || { echo "fresh_install: no .deb (run scripts/package.sh first)" >&2; exit 66; }
[ "$(id -u)" -eq 0 ] || { echo "fresh_install: needs root (debootstrap, chroot)" >&2; exit 77; }
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
target="$(mktemp -d /tmp/vault-fresh.XXXXXX)"
cleanup() { umount "$target/proc" 2>/dev/null || true; rm -rf "$target"; }
trap cleanup EXIT
mirror="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)"
echo "== debootstrap --variant=minbase bookworm (${mirror:-http://deb.debian.org/debian})"
start=$(date +%s)
debootstrap --variant=minbase bookworm "$target" "${mirror:-http://deb.debian.org/debian}" >"$target.log" 2>&1 ||
  { tail -20 "$target.log"; rm -f "$target.log"; exit 1; }
rm -f "$target.log"
echo "   $(( $(date +%s) - start )) s"
mount -t proc proc "$target/proc"
cp "$deb" "$target/tmp/"
in_root() { chroot "$target" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
echo "== in the fresh system: no Swift, no vault"
in_root sh -c 'command -v swift || echo "swift: not installed"; command -v vault || echo "vault: not installed"'
echo "== apt install ./$(basename "$deb")"
in_root apt-get update -qq
in_root sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq man-db bash-completion ./tmp/$(basename "$deb") >/dev/null"
in_root dpkg -s vault | grep -E '^(Status|Version|Depends):'
echo "== the installed vault"
in_root vault --version
in_root sh -c 'ldd /usr/bin/vault | grep -c libswift || true' | sed 's/^/Swift runtime libraries linked: /'
in_root sh -c 'mkdir -p /root/v && vault init --vault /root/v/db --key-file /root/v/key >/dev/null && vault list --vault /root/v/db --key-file /root/v/key'
in_root sh -c 'MANWIDTH=80 man vault-token 2>&1 | head -5'
in_root sh -c 'bash -c "source /usr/share/bash-completion/completions/vault; complete -p vault"'
echo "== apt remove vault"
in_root sh -c 'DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq vault >/dev/null && (command -v vault || echo "vault: removed")'
echo "fresh install check passed"
