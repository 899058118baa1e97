#!/usr/bin/env bash
# Source install: builds the release vault (static Swift standard library) with its man pages and completions and
# installs them under PREFIX (default /usr/local). DESTDIR is honoured, for staging.
#   scripts/install.sh [PREFIX]               install (run as a user who can write PREFIX, e.g. with sudo)
#   scripts/install.sh --uninstall [PREFIX]   remove exactly what the install wrote (it keeps a list of the files)
# The runtime needs libsodium23 and libcurl4 (scripts/setup.sh installs their -dev packages for the build).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=install
if [ "${1:-}" = --uninstall ]; then mode=uninstall; shift; fi
[ $# -le 1 ] || { echo "usage: scripts/install.sh [--uninstall] [PREFIX]" >&2; exit 64; }
prefix="${1:-/usr/local}"
case "$prefix" in /*) ;; *) echo "install: PREFIX must be an absolute path, not '$prefix'" >&2; exit 64 ;; esac
prefix="${prefix%/}"
[ -n "$prefix" ] || { echo "install: refusing to install into /" >&2; exit 64; }
dest="${DESTDIR:-}"
manifest_rel="share/doc/vault/installed-files"
manifest="$dest$prefix/$manifest_rel"

if [ "$mode" = uninstall ]; then
  [ -f "$manifest" ] || { echo "install: no vault install under $dest$prefix (no $manifest)" >&2; exit 66; }
  removed=0
  while IFS= read -r rel; do
    case "$rel" in ""|/*|*..*) echo "install: skipping unexpected manifest line '$rel'" >&2; continue ;; esac
    f="$dest$prefix/$rel"
    if [ -f "$f" ] || [ -L "$f" ]; then rm -f "$f"; removed=$((removed + 1)); fi
    # Remove the directories the install made, when nothing else is left in them.
    d="$(dirname "$f")"
    while [ "$d" != "$dest$prefix" ] && rmdir "$d" 2>/dev/null; do d="$(dirname "$d")"; done
  done <"$manifest"
  rm -f "$manifest"
  rmdir "$(dirname "$manifest")" 2>/dev/null || true
  echo "removed $removed files of vault from $dest$prefix (the vaults themselves, under ~/.local/share/vault or \$VAULT_DIR, are untouched)"
  exit 0
fi

VAULT_SKIP_VENV=1 scripts/setup.sh
stage="$(mktemp -d /tmp/vault-install.XXXXXX)"
trap 'rm -rf "$stage"' EXIT
read -r version revision < <(scripts/release-build.sh "$stage" "$prefix" | tail -n 1)
root="$stage$prefix"
if ! mkdir -p "$dest$prefix" 2>/dev/null || [ ! -w "$dest$prefix" ]; then
  echo "install: cannot write $dest$prefix: run as a user who can (e.g. sudo scripts/install.sh), or pass a PREFIX" >&2
  exit 73
fi
(cd "$root" && find . -type f | sed 's,^\./,,' | sort) >"$stage/files"
echo "$manifest_rel" >>"$stage/files"
# An upgrade: files of the earlier install that this one no longer has are removed, not left behind.
if [ -f "$manifest" ]; then
  while IFS= read -r rel; do
    case "$rel" in ""|/*|*..*) continue ;; esac
    grep -qxF -- "$rel" "$stage/files" || rm -f "$dest$prefix/$rel"
  done <"$manifest"
fi
while IFS= read -r rel; do
  [ "$rel" = "$manifest_rel" ] && continue
  mode_bits=0644
  [ -x "$root/$rel" ] && mode_bits=0755
  install -D -m "$mode_bits" "$root/$rel" "$dest$prefix/$rel"
done <"$stage/files"
install -D -m 0644 "$stage/files" "$manifest"
echo "installed vault $version (git $revision) under $dest$prefix: $(wc -l <"$stage/files") files, listed in $manifest"
case ":$PATH:" in *":$prefix/bin:"*) ;; *) echo "note: $prefix/bin is not on your PATH" ;; esac
