"""vault under a normal account's limits: a small RLIMIT_MEMLOCK, and one too small for vault's secrets.

Secret memory that cannot be locked is not an error (secrets may then reach swap): vault keeps working and says so
once per process. Before this was checked, sodium_malloc's failed mlock was silent."""
import os
import subprocess
import tempfile

from conftest import bin_dir

VAULT = os.path.join(bin_dir(), "vault")
WARNING = b"vault: warning: secret memory could not be locked"


def limited(kib, *args, env):
    return subprocess.run(["sh", "-c", 'ulimit -l %d && exec "$@"' % kib, "sh", VAULT, *args], env=env,
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL)


def test_memlock_limits(emulator):
    d = tempfile.mkdtemp(prefix="vault-limits-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env.update(VAULT_DIR=os.path.join(d, "vault"), VAULT_KEY_FILE=os.path.join(d, "key"), VAULT_CA_BUNDLE=emulator.ca)
    assert subprocess.run([VAULT, "init", "--key-file", env["VAULT_KEY_FILE"]], env=env, capture_output=True).returncode == 0
    r = subprocess.run([VAULT, "add-app", "demo", "--tenant", emulator.info["tenant_id"], "--client-id",
                        emulator.app["client_id"], "--authority", emulator.base, "--graph", emulator.base,
                        "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default"],
                       input=emulator.app["secret"].encode(), env=env, capture_output=True)
    assert r.returncode == 0, r.stderr
    # 64 KiB, a common default for ordinary accounts: token and run users work, every secret locked, nothing said.
    for args in (("token", "demo"), ("cache", "clear"), ("run", "users", "demo", "--output", "ndjson")):
        r = limited(64, *args, env=env)
        assert r.returncode == 0 and WARNING not in r.stderr, r.stderr.decode()
    # 16 KiB: more secret buffers than that limit can lock. The command still works and says so exactly once.
    for args in (("cache", "clear"), ("run", "users", "demo", "--output", "ndjson")):
        r = limited(16, *args, env=env)
        assert r.returncode == 0, r.stderr.decode()
    assert r.stderr.count(WARNING) == 1, r.stderr.decode()
    assert b"RLIMIT_MEMLOCK is 16 KiB" in r.stderr
    assert len(r.stdout.splitlines()) == 250  # the emulator's users, all of them
