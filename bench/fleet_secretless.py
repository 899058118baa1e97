"""bench/fleet.sh --secretless: HOSTS hosts with no Entra secret (`add-app --federated backend:fleet/fleet`: an OpenBao
identity token is the client assertion, through one federated credential naming the AppRole role's entity), against
HOSTS hosts of the existing secret mode (the app's secret in OpenBao's KV, `add-app --backend` / `--from-backend`), on
one `bao server -dev -dev-tls` and one emulator. Prints, for both: Entra requests per host per token lifetime, the time
from destroying a host's AppRole secret id to its first refused fetch (and what the revoked host could still use), and
every secret of the app, wherever it is. Run through bench/fleet.sh --secretless (release build)."""
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
from test_format_reader import read_vault  # noqa: E402
from test_issuer import AUDIENCE, TLSBao  # noqa: E402

HOSTS = int(sys.argv[1]) if len(sys.argv) > 1 else 50
VAULT = os.environ.get("VAULT_BENCH_VAULT") or os.path.join(os.environ["VAULT_BIN_DIR"], "vault")
ROUNDS = 3
POOL = 8
TOKEN_TTL = 20  # the AppRole role's token_ttl: how long a host's OpenBao login token lives
KV_POLICY = ('path "secret/data/entra/*" { capabilities = ["read","create","update"] }\n'
             'path "secret/metadata/entra/*" { capabilities = ["read","create","update","list"] }')


def run(env, *args, stdin=None, check=True):
    r = subprocess.run([VAULT, *args], env=env, input=(stdin or "").encode(), capture_output=True, timeout=300)
    if check and r.returncode != 0:
        raise RuntimeError("vault %s: %s" % (" ".join(args), r.stderr.decode()))
    return r


def parallel(fn, items):
    with concurrent.futures.ThreadPoolExecutor(max_workers=POOL) as pool:
        return list(pool.map(fn, items))


root = tempfile.mkdtemp(prefix="vault-secretless-bench-")
bao = TLSBao(root)
bao.api("POST", "/v1/identity/oidc/config", {"issuer": bao.addr})
issuer = bao.addr + "/v1/identity/oidc"
bao.api("POST", "/v1/identity/oidc/key/fleet", {"algorithm": "RS256", "allowed_client_ids": [AUDIENCE]})
bao.api("POST", "/v1/identity/oidc/role/fleet", {"key": "fleet", "client_id": AUDIENCE, "ttl": "10m"})
bao.api("PUT", "/v1/sys/policies/acl/issuer", {"policy": 'path "identity/oidc/token/fleet" { capabilities = ["read"] }'})
bao.api("PUT", "/v1/sys/policies/acl/kv", {"policy": KV_POLICY})
bao.api("POST", "/v1/sys/auth/approle", {"type": "approle"})
roles = {"secretless": ["issuer"], "secret": ["kv"]}
for role, policies in roles.items():
    bao.api("POST", "/v1/auth/approle/role/" + role, {"token_policies": policies, "token_ttl": "%ds" % TOKEN_TTL})
subject = bao.login("secretless")["entity_id"]
client_ids = {"secretless": str(uuid.uuid4()), "secret": str(uuid.uuid4())}
config = os.path.join(root, "emu.json")
with open(config, "w") as f:
    json.dump({"apps": [
        {"name": "secretless", "client_id": client_ids["secretless"], "roles": ["User.Read.All"], "passwords": [],
         "federated_credentials": [{"name": "openbao-hosts", "issuer": issuer, "subject": subject, "audiences": [AUDIENCE]}]},
        {"name": "secret", "client_id": client_ids["secret"], "roles": ["User.Read.All", "Application.ReadWrite.OwnedBy"], "owns_self": True},
    ], "users": 10}, f)
emu = start_emulator("--config", config, "--issuer-ca", bao.ca)
apps = {a["name"]: a for a in emu.info["apps"]}
tenant = emu.info["tenant_id"]


def app_args(mode):
    return ["--tenant", tenant, "--client-id", client_ids[mode], "--authority", emu.base, "--graph", emu.base,
            "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default"]


def enrol(mode, i):
    d = tempfile.mkdtemp(prefix="%s-%d-" % (mode, i), dir=root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env.update(VAULT_DIR=os.path.join(d, "vault"), VAULT_KEY_FILE=os.path.join(d, "key"), VAULT_CA_BUNDLE=emu.ca)
    run(env, "init", "--key-file", env["VAULT_KEY_FILE"])
    s = bao.api("POST", "/v1/auth/approle/role/%s/secret-id" % mode, {})["data"]
    role_id = bao.api("GET", "/v1/auth/approle/role/%s/role-id" % mode)["data"]["role_id"]
    run(env, "backend", "add", "fleet", "--address", bao.addr, "--approle", role_id, "--ca-bundle", bao.ca, stdin=s["secret_id"])
    if mode == "secretless":
        run(env, "add-app", "fleet", *app_args(mode), "--federated", "backend:fleet/fleet")
    elif i == 0:
        run(env, "add-app", "fleet", "--backend", "fleet", *app_args(mode), stdin=apps["secret"]["secret"])
    return {"env": env, "accessor": s["secret_id_accessor"], "secret_id": s["secret_id"]}


def fresh(host):
    run(host["env"], "cache", "clear", "fleet")
    return run(host["env"], "token", "fleet", "--max-wait", "0", check=False).returncode == 0


def exchange(mode, host):
    """What a revoked host could have kept, tried at Entra directly: secretless, an identity token it asked for just
    before its revocation (vault itself keeps none); secret mode, the client secret it read at its fetches."""
    form = {"grant_type": "client_credentials", "client_id": client_ids[mode], "scope": "https://graph.microsoft.com/.default"}
    if mode == "secretless":
        form.update(client_assertion=host["kept"], client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    else:
        form.update(client_secret=apps["secret"]["secret"])
    return emu.session.post("%s/%s/oauth2/v2.0/token" % (emu.base, tenant), data=form, verify=emu.ca, timeout=30).status_code == 200


def kv_secrets():
    """Every string value under secret/ (KV v2) that is an app's client secret, found by walking the mount as root."""
    found = []

    def walk(path):
        r = bao.api("LIST", "/v1/secret/metadata/" + path, ok=(200, 404))
        for key in (r.get("data") or {}).get("keys", []):
            if key.endswith("/"):
                walk(path + key)
            else:
                data = bao.api("GET", "/v1/secret/data/" + path + key)["data"]["data"]
                found.extend(v for v in data.values() if v in (apps["secret"]["secret"],))
    walk("")
    return found


results = {}
try:
    for mode in ("secretless", "secret"):
        t = time.time()
        hosts = [enrol(mode, 0)] + parallel(lambda i: enrol(mode, i), range(1, HOSTS))
        if mode == "secret":
            parallel(lambda h: run(h["env"], "add-app", "fleet", "--from-backend", "fleet", "--tenant", tenant, "--allow-custom-endpoint"), hosts[1:])
        setup = time.time() - t
        entra0 = emu.token_requests(client_ids[mode])
        t = time.time()
        for _ in range(ROUNDS):
            parallel(lambda h: run(h["env"], "token", "fleet"), hosts)
        served = time.time() - t
        entra = emu.token_requests(client_ids[mode]) - entra0
        # A cache miss, one host after the other: login + identity token + Entra, or login + KV read + Entra.
        miss = []
        for h in hosts[:min(HOSTS, 20)]:
            run(h["env"], "cache", "clear", "fleet")
            t = time.time()
            run(h["env"], "token", "fleet")
            miss.append(time.time() - t)
        miss.sort()
        # Secrets: on the app (emulator admin), in each host's vault file (read independently, docs/FORMAT.md), in KV.
        app = emu.admin("GET", "/apps/" + client_ids[mode])
        host_app_secrets = host_logins = 0
        for h in hosts:
            with open(os.path.join(h["env"]["VAULT_DIR"], "vault.db"), "rb") as f, open(h["env"]["VAULT_KEY_FILE"], "rb") as k:
                records = read_vault(f.read(), key_file=k.read())["records"]
            host_app_secrets += sum(len(r["secrets"]) for r in records if r["kind"] == "app")
            host_logins += sum(len(r["secrets"]) for r in records if r["kind"] == "backend")
        # Revocation: destroy host 0's secret id; each try clears its token cache so the fetch goes to the source.
        if mode == "secretless":
            role_id = bao.api("GET", "/v1/auth/approle/role/secretless/role-id")["data"]["role_id"]
            login = bao.api("POST", "/v1/auth/approle/login", {"role_id": role_id, "secret_id": hosts[0]["secret_id"]})["auth"]
            hosts[0]["kept"] = bao.api("GET", "/v1/identity/oidc/token/fleet", token=login["client_token"])["data"]["token"]
        before = emu.token_requests(client_ids[mode])
        t0 = time.time()
        bao.api("POST", "/v1/auth/approle/role/%s/secret-id-accessor/destroy" % mode, {"secret_id_accessor": hosts[0]["accessor"]})
        tries = 0
        while True:
            tries += 1
            if not fresh(hosts[0]):
                refused = time.time() - t0
                break
            if time.time() - t0 > 4 * TOKEN_TTL:
                refused = None
                break
            time.sleep(0.2)
        new_after_revocation = emu.token_requests(client_ids[mode]) - before
        kept_works = exchange(mode, hosts[0])
        others_ok = sum(parallel(fresh, hosts[1:]))
        results[mode] = dict(setup=setup, served=served, miss=miss[len(miss) // 2], misses=len(miss), entra=entra, passwords=len(app["passwords"]), keys=len(app["certificates"]),
                             fics=len(app.get("federated_credentials") or []), host_app_secrets=host_app_secrets, host_logins=host_logins,
                             kv=len(kv_secrets()) if mode == "secret" else None, refused=refused, tries=tries,
                             new_after_revocation=new_after_revocation, others_ok=others_ok,
                             kept_works=kept_works, password_end=[p.get("end") for p in app["passwords"]])
        if mode == "secretless":
            results[mode]["kv"] = len(kv_secrets())
finally:
    emu.proc.kill()
    bao.stop()

s, c = results["secretless"], results["secret"]
print("fleet of %d hosts on one OpenBao dev server (-dev-tls), secretless vs secret mode (%s, %d concurrent commands)"
      % (HOSTS, "release vault" if os.environ.get("VAULT_BENCH_VAULT") else "vault of " + os.environ["VAULT_BIN_DIR"], POOL))
print("  set-up: secretless %.1f s, secret %.1f s" % (s["setup"], c["setup"]))
print("  Entra requests per host per token lifetime (%d rounds of `vault token` on every host, %.1f s / %.1f s): secretless %.2f, secret %.2f"
      % (ROUNDS, s["served"], c["served"], s["entra"] / HOSTS, c["entra"] / HOSTS))
print("  a cache-miss `vault token` (median of %d, one at a time): secretless %.0f ms (AppRole login, identity token, Entra),"
      " secret %.0f ms (AppRole login, KV read, Entra)" % (s["misses"], 1000 * s["miss"], 1000 * c["miss"]))
for name, r in (("secretless", s), ("secret", c)):
    print("  %s: secret id destroyed -> first refused fetch %s (role token_ttl %d s; %d tries, each a cache clear + fetch);"
          " new Entra tokens after: %d; other hosts still fetching: %d/%d"
          % (name, "%.2f s" % r["refused"] if r["refused"] is not None else "NEVER (%d s)" % (4 * TOKEN_TTL), TOKEN_TTL, r["tries"],
             r["new_after_revocation"], r["others_ok"], HOSTS - 1))
print("  what a revoked host could have kept, still accepted by Entra after its refusal: secretless, an identity token"
      " asked for just before: %s (valid until its exp, the OIDC role's ttl of 600 s, plus Entra's 300 s skew); secret mode,"
      " the client secret it read: %s (until the app's secret is rotated; this one ends %s)"
      % ("yes" if s["kept_works"] else "no", "yes" if c["kept_works"] else "no", ", ".join(map(str, c["password_end"])) or "?"))
print("  secrets of the app, anywhere (secretless | secret):")
print("    app passwords (Entra):            %d | %d" % (s["passwords"], c["passwords"]))
print("    app keys (Entra certificates):    %d | %d" % (s["keys"], c["keys"]))
print("    app secrets in host vault files:  %d | %d" % (s["host_app_secrets"], c["host_app_secrets"]))
print("    app secrets in OpenBao's KV:      %d | %d" % (s["kv"], c["kv"]))
print("  not app secrets: AppRole secret ids, one per host (logins, in the hosts' backend records): %d | %d; FICs on the app: %d | %d"
      % (s["host_logins"], c["host_logins"], s["fics"], c["fics"]))
ok = (s["entra"] == HOSTS and s["passwords"] == s["keys"] == s["host_app_secrets"] == s["kv"] == 0
      and s["refused"] is not None and s["refused"] <= TOKEN_TTL + 5 and s["new_after_revocation"] == 0 and s["others_ok"] == HOSTS - 1)
print("targets: one Entra request per host per token lifetime, no secret of the app anywhere, a revoked host refused within"
      " token_ttl and the others unaffected: %s" % ("met" if ok else "NOT met"))
sys.exit(0 if ok else 1)
