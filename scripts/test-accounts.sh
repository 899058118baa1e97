#!/usr/bin/env bash
# Root's part of the test command: creates the unprivileged accounts the tests run as, if they are missing, and
# prints shell assignments describing them (for eval). Idempotent.
#   vault-test   runs every test process (its own HOME, a 0700 XDG_RUNTIME_DIR under /run/user)
#   vault-test2  another local user, for the tests of what a second account cannot reach; vault-test may run
#                commands as vault-test2 (and only as it) through sudo without a password
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "test-accounts: must run as root" >&2; exit 77; }
user="${VAULT_TEST_USER:-vault-test}"
second="${VAULT_TEST_USER2:-vault-test2}"
for u in "$user" "$second"; do
  id -u "$u" >/dev/null 2>&1 || useradd --create-home --user-group --shell /bin/bash --comment "vault tests" "$u"
done
uid="$(id -u "$user")"
gid="$(id -g "$user")"
home="$(getent passwd "$user" | cut -d: -f6)"
runtime="/run/user/$uid"
install -d -o "$uid" -g "$gid" -m 0700 "$runtime"
rule="/etc/sudoers.d/vault-test"
want="$user ALL=($second) NOPASSWD: ALL"
if [ "$(cat "$rule" 2>/dev/null)" != "$want" ]; then
  printf '%s\n' "$want" >"$rule.tmp"
  chmod 0440 "$rule.tmp"
  visudo -cf "$rule.tmp" >/dev/null
  mv "$rule.tmp" "$rule"
fi
# The local package mirror (/etc/gitconfig points github.com there) is root's: git refuses to clone from a repository
# another user owns unless it is named in the account's own configuration. Named one by one, nothing else.
if [ -d /opt/swift-packages ]; then
  {
    echo "# written by vault's scripts/test-accounts.sh: the root-owned Swift package mirror"
    echo "[safe]"
    find /opt/swift-packages -mindepth 2 -maxdepth 2 -name '*.git' -type d | sort | sed 's/^/\tdirectory = /'
  } >"$home/.gitconfig.tmp"
  chown "$uid:$gid" "$home/.gitconfig.tmp"
  mv "$home/.gitconfig.tmp" "$home/.gitconfig"
fi
printf 'TEST_USER=%q TEST_UID=%q TEST_GID=%q TEST_HOME=%q TEST_RUNTIME_DIR=%q SECOND_USER=%q\n' \
  "$user" "$uid" "$gid" "$home" "$runtime" "$second"
