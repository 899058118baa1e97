"""Fleets: many host vaults, each with its own AppRole login to a real OpenBao (dev server, and a 3-node raft
cluster), one app kept in the backend, tokens per host, and a rotation coordinated across the fleet."""
import concurrent.futures
import json
import os
import random
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import bin_dir, start_emulator
from openbao import Bao, RaftCluster

VAULT = os.path.join(bin_dir(), "vault")
HOSTS = int(os.environ.get("VAULT_FLEET_HOSTS", "20"))
KILL_STEPS = ["after-read", "after-journal", "after-add", "after-journal-added", "after-prove", "after-backend-write", "after-commit",
              "after-remove", "after-clear"]
APPS = ["fleet-tokens", "fleet-race", "fleet-kill", "fleet-raft", "fleet-self", "fleet-skew"]


def vault(env, *args, stdin=None, extra=None, timeout=120):
    e = dict(env)
    e.update(extra or {})
    return subprocess.run([VAULT, *args], env=e, input=(stdin or "").encode(), capture_output=True, timeout=timeout)


@pytest.fixture(scope="module")
def emu():
    """An emulator of its own: these tests rotate their apps' passwords, which no other module may see change."""
    config = os.path.join(tempfile.mkdtemp(prefix="vault-fleet-emu-"), "config.json")
    with open(config, "w") as f:
        json.dump({"apps": [{"name": n, "client_id": str(uuid.uuid4()), "roles": ["User.Read.All", "Application.ReadWrite.OwnedBy"],
                             "owns_self": True} for n in APPS], "users": 30, "seed": "fleet"}, f)
    e = start_emulator("--config", config)
    e.apps = {a["name"]: a for a in e.info["apps"]}
    yield e
    e.proc.kill()
    e.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def bao():
    b = Bao()
    yield b
    b.stop()


def new_host(engine, emu, addresses):
    d = tempfile.mkdtemp(prefix="vault-fleet-host-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env.update(VAULT_DIR=os.path.join(d, "vault"), VAULT_KEY_FILE=os.path.join(d, "key"), VAULT_CA_BUNDLE=emu.ca)
    assert vault(env, "init", "--key-file", env["VAULT_KEY_FILE"]).returncode == 0
    r = vault(env, "backend", "add", "fleet", "--address", ",".join(addresses), "--approle", engine.role_id, stdin=engine.secret_id())
    assert r.returncode == 0, r.stderr.decode()
    return env


def store_app(env, emu, name):
    app = emu.apps[name]
    r = vault(env, "add-app", name, "--backend", "fleet", "--tenant", emu.info["tenant_id"], "--client-id", app["client_id"],
              "--authority", emu.base, "--graph", emu.base, "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default",
              stdin=app["secret"])
    assert r.returncode == 0, r.stderr.decode()


def enrol(env, emu, name):
    r = vault(env, "add-app", name, "--from-backend", "fleet", "--tenant", emu.info["tenant_id"], "--allow-custom-endpoint")
    assert r.returncode == 0, r.stderr.decode()


def passwords(emu, name):
    return emu.admin("GET", "/apps/" + emu.apps[name]["client_id"])["passwords"]


def add_password_calls(emu, name):
    graph = emu.counters()["graph_requests"]
    return sum(n for path, n in graph.items() if emu.apps[name]["client_id"] in path and path.endswith("/addPassword"))


def works_with_fresh_secret(env, name):
    """The host's next `run users`, with its token cache emptied so the secret is read from the backend again."""
    assert vault(env, "cache", "clear", name).returncode == 0
    r = vault(env, "run", "users", name, "--max", "2", "--output", "ndjson")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 2, r.stderr.decode()


def all_at_once(fn, items):
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(items)) as pool:
        return list(pool.map(fn, items))


@pytest.fixture(scope="module")
def fleet(bao, emu):
    hosts = all_at_once(lambda _: new_host(bao, emu, [bao.addr]), range(HOSTS))
    return hosts


def test_every_host_at_once_one_token_request_each(fleet, emu):
    store_app(fleet[0], emu, "fleet-tokens")
    all_at_once(lambda env: enrol(env, emu, "fleet-tokens"), fleet[1:])
    client = emu.apps["fleet-tokens"]["client_id"]
    before = emu.token_requests(client)
    results = all_at_once(lambda env: vault(env, "token", "fleet-tokens"), fleet)
    assert all(r.returncode == 0 for r in results), [r.stderr.decode() for r in results if r.returncode]
    assert emu.token_requests(client) == before + len(fleet), "exactly one Entra request per host"
    again = all_at_once(lambda env: vault(env, "token", "fleet-tokens"), fleet)
    assert all(r.returncode == 0 for r in again)
    assert emu.token_requests(client) == before + len(fleet), "the second round is served from each host's cache"
    for env in fleet:
        assert emu.apps["fleet-tokens"]["secret"].encode() not in open(os.path.join(env["VAULT_DIR"], "vault.db"), "rb").read()


def test_five_hosts_rotate_at_once_exactly_one_add_password(fleet, emu, bao):
    name = "fleet-race"
    store_app(fleet[0], emu, name)
    all_at_once(lambda env: enrol(env, emu, name), fleet[1:])
    before = add_password_calls(emu, name)
    # The new secret starts working only after 5 s: the winner is still proving it when the others ask, even on a
    # loaded machine.
    emu.admin("POST", "/settings", {"propagation_delay": 5})
    try:
        results = all_at_once(lambda env: vault(env, "rotate-secret", name, "--lag-window", "1"), fleet[:5])
    finally:
        emu.admin("POST", "/settings", {"propagation_delay": 0})
    ok = [r for r in results if r.returncode == 0]
    busy = [r for r in results if r.returncode != 0]
    assert len(ok) == 1, [r.stderr.decode() for r in results]
    assert all(r.returncode == 75 and b"in progress" in r.stderr for r in busy), [r.stderr.decode() for r in busy]
    assert add_password_calls(emu, name) == before + 1
    assert len(passwords(emu, name)) == 1, "the app holds exactly one password"
    stored = bao.kv("%s/%s" % (emu.info["tenant_id"], name))
    assert stored["data"]["secret"] != emu.apps[name]["secret"] and stored["data"]["secret_key_id"] == passwords(emu, name)[0]["key_id"]
    lock = bao.kv("rotation/%s/%s" % (emu.info["tenant_id"], name))["data"]
    assert lock["state"] == "idle" and lock["outcome"] == "finished" and "new_secret" not in lock
    all_at_once(lambda env: works_with_fresh_secret(env, name), fleet)
    status = vault(fleet[7], "status", name)
    assert status.returncode == 0 and stored["data"]["secret_hint"].encode() in status.stdout, status.stdout + status.stderr


@pytest.mark.parametrize("step", KILL_STEPS)
def test_host_killed_at_each_step_another_host_finishes(fleet, emu, bao, step):
    name = "fleet-kill"
    a, b = fleet[0], fleet[1]
    if step == KILL_STEPS[0]:
        store_app(a, emu, name)
        enrol(b, emu, name)
    keys_before = {p["key_id"] for p in passwords(emu, name)}
    crashed = vault(a, "rotate-secret", name, "--lag-window", "1", "--lock-ttl", "3", extra={"VAULT_TEST_CRASH_AT": step})
    assert crashed.returncode == -9, crashed.stderr.decode()
    lock = (bao.kv("rotation/%s/%s" % (emu.info["tenant_id"], name)) or {}).get("data", {})
    if step not in ("after-read", "after-clear"):
        assert lock.get("state") == "rotating", lock
        # While the dead host's lock holds, another host is told a rotation is in progress and changes nothing.
        early = vault(b, "rotate-secret", name, "--resume", "--lag-window", "1")
        if early.returncode != 0:
            assert early.returncode == 75 and b"in progress" in early.stderr, early.stderr.decode()
        # Once the lock expired, any host may take the rotation over. Expiry is judged by the engine's clock, whose
        # Date header has whole seconds, so it may be seen up to 1 s late (never early).
        time.sleep(max(0, float(lock["expires"]) - time.time()) + 1.3)
    resumed = vault(b, "rotate-secret", name, "--resume", "--lag-window", "1")
    assert resumed.returncode == 0, resumed.stderr.decode()
    if step in ("after-read", "after-clear"):
        assert b"No rotation" in resumed.stdout
    lock = bao.kv("rotation/%s/%s" % (emu.info["tenant_id"], name))
    assert lock is None or lock["data"]["state"] == "idle"
    left = passwords(emu, name)
    assert len(left) == 1, left
    stored = bao.kv("%s/%s" % (emu.info["tenant_id"], name))["data"]
    if step in ("after-read", "after-journal", "after-add"):
        assert left[0]["key_id"] in keys_before, "rolled back: the old password is the one left"
    else:
        assert left[0]["key_id"] not in keys_before, "finished: only the new password is left"
        assert stored["secret_key_id"] == left[0]["key_id"], "the backend holds the new secret"
    for env in (a, b):
        works_with_fresh_secret(env, name)


def test_a_host_resumes_its_own_crashed_rotation_at_once(fleet, emu, bao):
    name = "fleet-self"
    a = fleet[2]
    store_app(a, emu, name)
    crashed = vault(a, "rotate-secret", name, "--lag-window", "1", extra={"VAULT_TEST_CRASH_AT": "after-prove"})
    assert crashed.returncode == -9
    # The lock (default 300 s) still holds, but its owner was a process of this very host and vault that is gone.
    resumed = vault(a, "rotate-secret", name, "--resume", "--lag-window", "1")
    assert resumed.returncode == 0 and b"Finished the interrupted rotation" in resumed.stdout, resumed.stderr.decode()
    assert len(passwords(emu, name)) == 1
    works_with_fresh_secret(a, name)


def test_status_shows_a_fleet_rotation_in_progress(fleet, emu, bao):
    name = "fleet-kill"
    a, b = fleet[0], fleet[1]
    crashed = vault(a, "rotate-secret", name, "--lag-window", "1", "--lock-ttl", "600", extra={"VAULT_TEST_CRASH_AT": "after-journal-added"})
    assert crashed.returncode == -9
    shown = vault(b, "status", name)
    assert shown.returncode == 3 and b"fleet rotation on" in shown.stdout and b"step added" in shown.stdout, shown.stdout + shown.stderr
    refused = vault(b, "rotate-secret", name, "--lag-window", "1")
    assert refused.returncode == 75 and b"in progress" in refused.stderr
    # The owner itself may take it back at once (its process is gone), and finishes it.
    assert vault(a, "rotate-secret", name, "--resume", "--lag-window", "1").returncode == 0
    after = vault(b, "status", name)
    assert after.returncode == 0 and b"last fleet rotation finished" in after.stdout + after.stderr, after.stdout + after.stderr


def test_a_host_whose_clock_runs_fast_does_not_take_over_a_live_rotation(fleet, emu, bao):
    """The lock's end is judged by the engine's clock (the version's created_time and the answer's Date), not by the
    reader's: a host 15 minutes fast (faketime) still sees a 600-s lock taken a moment ago as held."""
    name = "fleet-skew"
    a, b = fleet[-2], fleet[-1]
    store_app(a, emu, name)
    enrol(b, emu, name)
    crashed = vault(a, "rotate-secret", name, "--lag-window", "1", "--lock-ttl", "600", extra={"VAULT_TEST_CRASH_AT": "after-journal-added"})
    assert crashed.returncode == -9
    fast = subprocess.run(["faketime", "-f", "+15m", VAULT, "rotate-secret", name, "--resume", "--lag-window", "1"], env=b,
                          capture_output=True, timeout=120)
    assert fast.returncode == 75 and b"in progress" in fast.stderr, fast.stdout + fast.stderr
    shown = subprocess.run(["faketime", "-f", "+15m", VAULT, "status", name], env=b, capture_output=True, timeout=120)
    assert b"fleet rotation on" in shown.stdout, shown.stdout + shown.stderr
    # Its owner finishes it; one password is left and both hosts work.
    assert vault(a, "rotate-secret", name, "--resume", "--lag-window", "1").returncode == 0
    assert len(passwords(emu, name)) == 1
    for env in (a, b):
        works_with_fresh_secret(env, name)


def test_raft_cluster_active_node_killed_mid_rotation(emu):
    cluster = RaftCluster()
    try:
        hosts = [new_host(cluster, emu, cluster.addresses) for _ in range(3)]
        name = "fleet-raft"
        store_app(hosts[0], emu, name)
        for env in hosts[1:]:
            enrol(env, emu, name)
        emu.admin("POST", "/settings", {"propagation_delay": 4})
        try:
            rotation = subprocess.Popen([VAULT, "rotate-secret", name, "--lag-window", "1", "--lock-ttl", "20"], env=hosts[0],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            # Wait until the journal holds the new password (the rotating host is now proving it), then kill the
            # active node under it.
            deadline = time.time() + 30
            while True:
                lock = cluster.kv("rotation/%s/%s" % (emu.info["tenant_id"], name))
                if lock and '"step":"added"' in lock["data"]["journal"].replace(" ", ""):
                    break
                assert time.time() < deadline and rotation.poll() is None, "the rotation never reached step added"
                time.sleep(0.05)
            killed = cluster.kill_active()
            out, err = rotation.communicate(timeout=120)
        finally:
            emu.admin("POST", "/settings", {"propagation_delay": 0})
        cluster.wait_for_leader()
        print("raft: the rotating host %s after the active node died (%s)" % (
            "finished" if rotation.returncode == 0 else "stopped", (out + err).decode().strip().splitlines()[-1]))
        if rotation.returncode != 0:
            # The rotation could not reach the new leader in time: another host finishes or rolls it back.
            time.sleep(21)
            resumed = vault(hosts[1], "rotate-secret", name, "--resume", "--lag-window", "1")
            assert resumed.returncode == 0, "rotating host: %s\nresuming host: %s" % (err.decode(), resumed.stderr.decode())
        assert killed["addr"] in cluster.addresses
        assert cluster.kv("rotation/%s/%s" % (emu.info["tenant_id"], name))["data"]["state"] == "idle"
        assert len(passwords(emu, name)) == 1
        for env in hosts:
            works_with_fresh_secret(env, name)
    finally:
        cluster.stop()


def test_refusals_on_a_fleet_app_change_nothing(fleet, emu, bao):
    name = "fleet-tokens"  # stored and enrolled on every host by the first test
    env = fleet[4]
    db = os.path.join(env["VAULT_DIR"], "vault.db")
    before = open(db, "rb").read()
    record = bao.kv("%s/%s" % (emu.info["tenant_id"], name))
    for args, code, message in [
        (["rotate-secret", name, "--to-certificate"], 64, b"fleet backends hold client secrets only"),
        (["rotate-secret", name, "--manual"], 64, b"would not reach the other hosts"),
        (["rotate-secret", name, "--lock-ttl", "0"], 64, b"--lock-ttl must be"),
        (["rotate-secret", name, "--abandon"], 0, b"No rotation"),
    ]:
        r = vault(env, *args, stdin="x" * 40)
        assert r.returncode == code and message in (r.stderr + r.stdout), (args, r.returncode, r.stderr.decode())
        if code:
            assert b"vault: error:" in r.stderr
    assert open(db, "rb").read() == before
    assert bao.kv("%s/%s" % (emu.info["tenant_id"], name))["metadata"]["version"] == record["metadata"]["version"]


def test_exec_hands_out_a_fleet_apps_tokens(fleet, emu):
    env = fleet[5]
    assert vault(env, "cache", "clear", "fleet-tokens").returncode == 0
    probe = ("import json, os, urllib.request\n"
             "url = os.environ['IDENTITY_ENDPOINT'] + '?api-version=2019-08-01&resource=https%3A%2F%2Fgraph.microsoft.com'\n"
             "for _ in range(2):\n"
             "    r = urllib.request.urlopen(urllib.request.Request(url, headers={'X-IDENTITY-HEADER': os.environ['IDENTITY_HEADER']}))\n"
             "    print(json.load(r)['token_type'])\n")
    r = vault(env, "exec", "fleet-tokens", "--", "/usr/bin/python3", "-c", probe)
    assert r.returncode == 0 and r.stdout.split() == [b"Bearer", b"Bearer"], r.stderr.decode()


def test_verbose_logs_backend_requests_with_every_secret_redacted(fleet, emu):
    env = fleet[6]
    assert vault(env, "cache", "clear", "fleet-tokens").returncode == 0
    r = vault(env, "token", "fleet-tokens", "-vv")
    assert r.returncode == 0, r.stderr.decode()
    log = r.stderr
    assert b"/v1/auth/approle/login" in log and b"/v1/secret/data/entra/" in log, log.decode()
    assert emu.apps["fleet-tokens"]["secret"].encode() not in log and r.stdout.strip() not in log
    flat = log.replace(b" ", b"")
    assert b'"secret":"[REDACTED]"' in flat and b'"client_token":"[REDACTED]"' in flat and b"X-Vault-Token:[REDACTED]" in flat
