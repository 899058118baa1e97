#!/usr/bin/env bash
# Installs what vault needs on a fresh Debian machine: the C libraries (apt) and, for the interop tests and
# benchmarks, a project-local Python venv with pinned MSAL. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libsodium-dev libcurl4-openssl-dev pkg-config zlib1g-dev openssl)
# For the tests of `vault serve` (socket activation), the agent (another uid, the agent's pid), `vault exec` (curl) and
# a fleet host whose clock runs fast (faketime).
if [ "${VAULT_SKIP_VENV:-0}" != "1" ]; then packages+=(systemd util-linux procps curl faketime); fi
# Root's part of the test command (scripts/test.sh): also what scripts/package.sh and the account switch need.
# The fleet-under-faults step (bench/fleet_faults.py): network namespaces, nftables partitions and loss, tbf delay.
if [ "${VAULT_SETUP_SYSTEM_ONLY:-0}" = "1" ]; then packages+=(dpkg-dev lintian man-db binutils sudo rsync passwd iproute2 nftables faketime); fi
command -v python3 >/dev/null 2>&1 || packages+=(python3)
command -v python3 >/dev/null 2>&1 && python3 -c 'import venv, ensurepip' 2>/dev/null || packages+=(python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v swift >/dev/null 2>&1 || { echo "setup: Swift 6 is required (swift on the PATH); see https://swift.org/install" >&2; exit 69; }
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if ! sudo -n true 2>/dev/null; then
      echo "setup: missing Debian packages: ${missing[*]}" >&2
      echo "setup: this account cannot install them; ask an administrator: apt-get install ${missing[*]}" >&2
      exit 69
    fi
    sudo="sudo -n"
  fi
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "${VAULT_SKIP_VENV:-0}" != "1" ] && [ "${VAULT_SETUP_SYSTEM_ONLY:-0}" != "1" ]; then
  req=Tests/interop/requirements.txt
  stamp=.venv/.requirements
  if [ ! -x .venv/bin/python ] || ! cmp -s "$req" "$stamp" 2>/dev/null; then
    echo "setup: creating .venv with $(tr '\n' ' ' < "$req")"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r "$req"
    cp "$req" "$stamp"
  fi
fi
