"""bench/fleet.sh's measurements: HOSTS host vaults on one OpenBao dev server (fleet) vs HOSTS host vaults each
holding a copy of the secret (naive), one emulator for both. Run through bench/fleet.sh (release build)."""
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "interop"))
from conftest import start_emulator  # noqa: E402
from openbao import Bao  # noqa: E402

HOSTS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
VAULT = os.environ.get("VAULT_BENCH_VAULT") or os.path.join(os.environ["VAULT_BIN_DIR"], "vault")
ROUNDS = 3
POOL = 16


def run(env, *args, stdin=None):
    r = subprocess.run([VAULT, *args], env=env, input=(stdin or "").encode(), capture_output=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("vault %s: %s" % (" ".join(args), r.stderr.decode()))
    return r


def parallel(fn, items):
    with concurrent.futures.ThreadPoolExecutor(max_workers=POOL) as pool:
        return list(pool.map(fn, items))


def host_env(root):
    d = tempfile.mkdtemp(prefix="h-", dir=root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env.update(VAULT_DIR=os.path.join(d, "vault"), VAULT_KEY_FILE=os.path.join(d, "key"), VAULT_CA_BUNDLE=emu.ca)
    run(env, "init", "--key-file", env["VAULT_KEY_FILE"])
    return env


def app_args(name):
    return ["--tenant", emu.info["tenant_id"], "--client-id", apps[name]["client_id"], "--authority", emu.base, "--graph", emu.base,
            "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default"]


def backend_reads(path):
    n = 0
    with open(audit) as f:
        for line in f:
            e = json.loads(line)
            if e.get("type") == "response" and e["request"].get("path") == path and e["request"].get("operation") == "read":
                n += 1
    return n


root = tempfile.mkdtemp(prefix="vault-fleet-bench-")
config = os.path.join(root, "emu.json")
with open(config, "w") as f:
    json.dump({"apps": [{"name": n, "client_id": str(uuid.uuid4()), "roles": ["User.Read.All", "Application.ReadWrite.OwnedBy"], "owns_self": True}
                        for n in ("fleet", "naive")], "users": 10}, f)
emu = start_emulator("--config", config)
apps = {a["name"]: a for a in emu.info["apps"]}
audit = os.path.join(root, "bao-audit.log")
bao = Bao(audit_log=audit)
tenant = emu.info["tenant_id"]
kv_path = "secret/data/entra/%s/fleet" % tenant
try:
    # ---- the fleet: one app in the backend, HOSTS hosts enrolled with their own AppRole secret ids
    t = time.time()
    fleet = parallel(lambda _: host_env(root), range(HOSTS))
    parallel(lambda env: run(env, "backend", "add", "fleet", "--address", bao.addr, "--approle", bao.role_id, stdin=bao.secret_id()), fleet)
    run(fleet[0], "add-app", "fleet", "--backend", "fleet", *app_args("fleet"), stdin=apps["fleet"]["secret"])
    parallel(lambda env: run(env, "add-app", "fleet", "--from-backend", "fleet", "--tenant", tenant, "--allow-custom-endpoint"), fleet[1:])
    setup = time.time() - t
    entra0, reads0 = emu.token_requests(apps["fleet"]["client_id"]), backend_reads(kv_path)
    for _ in range(ROUNDS):
        parallel(lambda env: run(env, "token", "fleet"), fleet)
    entra = emu.token_requests(apps["fleet"]["client_id"]) - entra0
    reads = backend_reads(kv_path) - reads0
    served = HOSTS * ROUNDS
    # A rotation from one host; it has reached a host once that host's next cache miss got a token with the new secret.
    t0 = time.time()
    run(fleet[0], "rotate-secret", "fleet", "--lag-window", "1")
    rotated = time.time() - t0
    parallel(lambda env: (run(env, "cache", "clear", "fleet"), run(env, "token", "fleet")), fleet)
    fleet_reach = time.time() - t0
    fleet_passwords = len(emu.admin("GET", "/apps/" + apps["fleet"]["client_id"])["passwords"])

    # ---- naive: every host holds a copy of the secret; a rotation is a new password, then touching every host
    naive = parallel(lambda _: host_env(root), range(HOSTS))
    parallel(lambda env: run(env, "add-app", "naive", *app_args("naive"), stdin=apps["naive"]["secret"]), naive)
    entra0 = emu.token_requests(apps["naive"]["client_id"])
    for _ in range(ROUNDS):
        parallel(lambda env: run(env, "token", "naive"), naive)
    naive_entra = emu.token_requests(apps["naive"]["client_id"]) - entra0
    t0 = time.time()
    token = json.loads(run(naive[0], "token", "naive", "--json").stdout)["access_token"]
    graph = emu.base + "/v1.0/applications(appId='%s')" % apps["naive"]["client_id"]
    old = [p["key_id"] for p in emu.admin("GET", "/apps/" + apps["naive"]["client_id"])["passwords"]]
    added = emu.session.post(graph + "/addPassword", json={"passwordCredential": {"displayName": "naive"}},
                             headers={"Authorization": "Bearer " + token}, verify=emu.ca, timeout=30).json()
    for env in naive:  # one host after the other, as a deploy script over ssh would
        run(env, "rotate-secret", "naive", "--manual", stdin=added["secretText"])
    for key in old:
        emu.session.post(graph + "/removePassword", json={"keyId": key}, headers={"Authorization": "Bearer " + token}, verify=emu.ca, timeout=30)
    naive_reach = time.time() - t0
finally:
    bao.stop()
    emu.proc.kill()

print("fleet of %d hosts on one OpenBao dev server (release vault, %d concurrent commands, set-up %.1f s)" % (HOSTS, POOL, setup))
print("  tokens served: %d (%d rounds of `vault token` on every host)" % (served, ROUNDS))
print("  backend reads per token served: %.3f  (%d reads: one per host, on its first cache miss)" % (reads / served, reads))
print("  Entra requests per host per token lifetime: fleet %.2f, naive %.2f" % (entra / HOSTS, naive_entra / HOSTS))
print("  rotation from one host, until the new secret is committed in the backend for every host: %.2f s (hosts touched: 1)" % rotated)
print("  until every host had fetched a token with it (all %d hosts forced to miss, %d at a time): %.2f s" % (HOSTS, POOL, fleet_reach))
print("  passwords on the app afterwards: %d" % fleet_passwords)
print("naive (each host a copy of the secret): new password, every host touched in turn (a local `rotate-secret --manual`,"
      " no ssh), old password removed: %.2f s (hosts touched: %d, %.1f ms each)" % (naive_reach, HOSTS, 1000 * naive_reach / HOSTS))
print("  the new secret reaches every host %.0fx sooner in the fleet (commit vs last host touched); %.1fx sooner even counting"
      " every host's forced miss" % (naive_reach / rotated, naive_reach / fleet_reach))
ok = reads <= HOSTS and entra == HOSTS and fleet_passwords == 1
print("targets: one backend read per host per cache miss, one Entra request per host per token lifetime, one password left: %s"
      % ("met" if ok else "NOT met"))
