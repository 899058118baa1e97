"""One unlock per command: a passphrase vault runs Argon2id once per command, however many times the command opens the
vault (a rotation opened it 19 times, each with its own Argon2id run). Real processes: vault and vault-emulator."""
import json
import os
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import bin_dir, start_emulator

VAULT = os.path.join(bin_dir(), "vault")


@pytest.fixture(scope="module")
def emu():
    config = os.path.join(tempfile.mkdtemp(prefix="vault-unlock-emu-"), "config.json")
    with open(config, "w") as f:
        json.dump({"apps": [{"name": "rot", "client_id": str(uuid.uuid4()), "roles": ["User.Read.All", "Application.ReadWrite.OwnedBy"],
                             "owns_self": True}], "users": 5, "seed": "unlock"}, f)
    e = start_emulator("--config", config)
    yield e
    e.proc.kill()
    e.proc.wait(timeout=10)


def runs(stderr):
    lines = [l for l in stderr.decode().splitlines() if l.startswith("vault: test: Argon2id ran")]
    assert len(lines) == 1, stderr
    return int(lines[0].split()[4])


def test_a_passphrase_rotation_runs_argon2id_once(emu):
    d = tempfile.mkdtemp(prefix="vault-unlock-")
    passfile = os.path.join(d, "pass")
    with open(os.open(passfile, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write("correct horse battery staple\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env.update(VAULT_DIR=os.path.join(d, "vault"), VAULT_PASSPHRASE_FILE=passfile, VAULT_CA_BUNDLE=emu.ca, VAULT_TEST_COUNT_KDF="1")

    def vault(*args, stdin=None):
        started = time.time()
        r = subprocess.run([VAULT, *args], env=env, input=(stdin or "").encode(), capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr.decode()
        return r, time.time() - started

    # 64 MiB, 2 passes: a real cost per run (about 0.1 s here), so 19 runs would show.
    assert runs(vault("init", "--passphrase-file", passfile, "--kdf-ops", "2", "--kdf-memory", "64")[0].stderr) == 1
    app = emu.info["apps"][0]
    r, _ = vault("add-app", "rot", "--tenant", emu.info["tenant_id"], "--client-id", app["client_id"], "--authority", emu.base,
                 "--graph", emu.base, "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default", stdin=app["secret"])
    assert runs(r.stderr) == 1
    listed, list_time = vault("list")
    assert runs(listed.stderr) == 1
    rotated, rotate_time = vault("rotate-secret", "rot", "--lag-window", "1")
    assert runs(rotated.stderr) == 1, "a rotation opens the vault at every step; Argon2id must run once"
    status, _ = vault("status", "rot")
    assert runs(status.stderr) == 1
    print("vault list %.2f s, rotate-secret %.2f s (one Argon2id run each)" % (list_time, rotate_time))
