"""A fleet without a secret (issue 28, the fleet part), real parts end to end: `bao server -dev -dev-tls` is the OIDC
issuer; three hosts, each with its own vault directory and its own AppRole secret id of one role, run
`vault add-app --federated backend:fleet/fleet`; vault-emulator (trusting bao's dev CA) holds the app with no password,
no key and one federated credential (FIC) naming the role's entity. Every host gets Entra tokens (`vault token`,
`vault run users`, azure-identity under `vault exec`), one Entra request per host per token lifetime, and no secret of
the app exists anywhere. Revoking a host inside OpenBao stops its new Entra tokens; a host of another role is refused.

The emulator fetches the discovery document and keys from bao itself (`identity/oidc/config issuer` = bao's own
HTTPS address, `--issuer-ca` = bao's dev CA), not from a copy published by `vault issuer publish`: one process fewer,
and the copy (its publishing, checking and going stale at a key rotation) is what test_issuer.py is about; here the
subject is the hosts, their one FIC and their revocation."""
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
import requests

from conftest import bin_dir, start_emulator
from test_format_reader import read_vault
from test_issuer import AUDIENCE, TLSBao, jwt

HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = os.path.join(HERE, "identity", "child.py")
VAULT = os.path.join(bin_dir(), "vault")
CLIENT_ID = str(uuid.uuid4())
TOKEN_TTL = 15  # the hosts' OpenBao login token lifetime (the AppRole role's token_ttl), seconds
HOSTS = 3


def vault(env, *args, stdin=None, check=True, timeout=120):
    r = subprocess.run([VAULT, *args], env=env, input=(stdin or "").encode(), capture_output=True, timeout=timeout)
    if check:
        assert r.returncode == 0, "vault %s: %s" % (" ".join(args), r.stderr.decode())
    return r


def fresh_token(env):
    """A token fetch that really goes to the source: the app's cached tokens cleared first. `--max-wait 0`: an
    AADSTS70021 is not retried for a minute."""
    vault(env, "cache", "clear", "fleet")
    return vault(env, "token", "fleet", "--max-wait", "0", check=False)


class Fleet:
    def __init__(self, d):
        self.dir = d
        bao = self.bao = TLSBao(d)
        # The issuer is bao's own address: tokens carry iss = https://127.0.0.1:PORT/v1/identity/oidc.
        bao.api("POST", "/v1/identity/oidc/config", {"issuer": bao.addr})
        self.issuer = bao.addr + "/v1/identity/oidc"
        bao.api("POST", "/v1/identity/oidc/key/fleet", {"algorithm": "RS256", "allowed_client_ids": [AUDIENCE]})
        bao.api("POST", "/v1/identity/oidc/role/fleet", {"key": "fleet", "client_id": AUDIENCE, "ttl": "10m"})
        bao.api("PUT", "/v1/sys/policies/acl/issuer", {"policy": 'path "identity/oidc/token/fleet" { capabilities = ["read"] }'})
        bao.api("POST", "/v1/sys/auth/approle", {"type": "approle"})
        for role in ("hosts", "other-hosts"):
            bao.api("POST", "/v1/auth/approle/role/" + role,
                    {"token_policies": ["issuer"], "token_ttl": "%ds" % TOKEN_TTL, "token_max_ttl": "%ds" % (4 * TOKEN_TTL)})
        # One login makes the role's entity: its id is the FIC's subject (docs/fleets.md).
        self.subject = bao.login("hosts")["entity_id"]
        config = {"apps": [{"name": "fleet", "client_id": CLIENT_ID, "roles": ["User.Read.All"], "passwords": [],
                            "federated_credentials": [{"name": "openbao-hosts", "issuer": self.issuer, "subject": self.subject,
                                                       "audiences": [AUDIENCE]}]}],
                  "users": 20}
        config_path = os.path.join(d, "emulator.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        self.emu = start_emulator("--config", config_path, "--issuer-ca", bao.ca)
        self.hosts = [self.enrol("h%d" % i, "hosts") for i in range(HOSTS)]

    def enrol(self, name, role):
        """A host: its own vault, its own secret id (metadata host=NAME, which the role's tokens carry), the backend
        login, the federated app."""
        d = os.path.join(self.dir, name)
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
        env.update(VAULT_DIR=os.path.join(d, "vault"), VAULT_KEY_FILE=os.path.join(d, "key"), VAULT_CA_BUNDLE=self.emu.ca,
                   GRAPH_BASE=self.emu.base, REQUESTS_CA_BUNDLE=self.emu.ca, NO_PROXY="127.0.0.1,localhost")
        os.makedirs(d)
        vault(env, "init", "--key-file", env["VAULT_KEY_FILE"])
        role_id = self.bao.api("GET", "/v1/auth/approle/role/%s/role-id" % role)["data"]["role_id"]
        s = self.bao.api("POST", "/v1/auth/approle/role/%s/secret-id" % role, {"metadata": json.dumps({"host": name})})["data"]
        vault(env, "backend", "add", "fleet", "--address", self.bao.addr, "--approle", role_id, "--ca-bundle", self.bao.ca,
              stdin=s["secret_id"])
        vault(env, "add-app", "fleet", "--tenant", self.emu.info["tenant_id"], "--client-id", CLIENT_ID, "--authority", self.emu.base,
              "--graph", self.emu.base, "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default",
              "--federated", "backend:fleet/fleet")
        return {"name": name, "env": env, "role": role, "secret_id": s["secret_id"], "secret_id_accessor": s["secret_id_accessor"]}

    def entra_requests(self):
        return self.emu.token_requests(CLIENT_ID)

    def token_accessors(self, host):
        """The accessors of the live OpenBao tokens a host's logins made (found by its secret id's metadata)."""
        found = []
        for accessor in self.bao.api("LIST", "/v1/auth/token/accessors")["data"]["keys"]:
            r = requests.post(self.bao.addr + "/v1/auth/token/lookup-accessor", json={"accessor": accessor},
                              headers={"X-Vault-Token": self.bao.root}, verify=self.bao.ca, timeout=10)
            if r.status_code == 200 and (r.json()["data"].get("meta") or {}).get("host") == host["name"]:
                found.append(accessor)
        return found

    def stop(self):
        self.emu.proc.kill()
        self.emu.proc.wait(timeout=10)
        self.bao.stop()


@pytest.fixture(scope="module")
def fleet():
    f = Fleet(tempfile.mkdtemp(prefix="vault-secretless-"))
    try:
        yield f
    finally:
        f.stop()


def test_every_host_gets_tokens_with_one_entra_request_per_token_lifetime(fleet):
    before = fleet.entra_requests()
    for host in fleet.hosts:
        token = json.loads(vault(host["env"], "token", "fleet", "--json").stdout)["access_token"]
        assert jwt(token)[1]["appid"] == CLIENT_ID
        users = json.loads(vault(host["env"], "run", "users", "fleet", "--max", "5").stdout)
        assert len(users) == 5
        r = vault(host["env"], "exec", "fleet", "--", sys.executable, CHILD, "azure-mi")
        assert json.loads(r.stdout)["users"] == 5
        for _ in range(10):
            assert vault(host["env"], "token", "fleet", "--json").returncode == 0
    # 3 hosts x (1 token + run users + exec + 10 tokens), all in one token lifetime: one Entra request per host.
    assert fleet.entra_requests() - before == HOSTS
    # Each host's fetch carried an OpenBao identity token of the role's entity (vault's audit log of the fetch).
    for host in fleet.hosts:
        with open(os.path.join(host["env"]["VAULT_DIR"], "audit.log")) as f:
            fetches = [e for e in map(json.loads, f) if e["event"] == "entra.token_request"]
        assert [(e["issuer"], e["subject"], e["outcome"]) for e in fetches] == [(fleet.issuer, fleet.subject, "ok")]


def test_no_secret_of_the_app_anywhere(fleet):
    app = fleet.emu.admin("GET", "/apps/" + CLIENT_ID)
    assert app["passwords"] == [] and app["certificates"] == []
    assert [(c["issuer"], c["subject"]) for c in app["federated_credentials"]] == [(fleet.issuer, fleet.subject)]
    for host in fleet.hosts:
        env = host["env"]
        view = json.loads(vault(env, "show", "fleet", "--json").stdout)
        assert view["credential"] == "federated" and view["federated"] == "backend:fleet/fleet" and not view["secret_hint"]
        # The vault file read independently (docs/FORMAT.md, no vault code): the app record has no secret at all; the
        # one secret on the host is its AppRole secret id (a login, in the backend record).
        with open(os.path.join(env["VAULT_DIR"], "vault.db"), "rb") as f, open(env["VAULT_KEY_FILE"], "rb") as k:
            records = read_vault(f.read(), key_file=k.read())["records"]
        apps = [r for r in records if r["kind"] == "app"]
        assert [(r["name"], r["secrets"]) for r in apps] == [("fleet", {})]
        others = [r for r in records if r["kind"] != "app" and r["secrets"]]
        assert [r["kind"] for r in others] == ["backend"], [(r["kind"], r["name"]) for r in others]
        assert host["secret_id"].encode() in list(others[0]["secrets"].values())
    # Nothing in OpenBao's KV at all (the dev server's secret/ mount is empty).
    r = requests.request("LIST", fleet.bao.addr + "/v1/secret/metadata/", headers={"X-Vault-Token": fleet.bao.root},
                         verify=fleet.bao.ca, timeout=10)
    assert r.status_code == 404, r.text


def test_a_host_of_another_role_is_refused(fleet):
    """Another AppRole role is another entity, so another `sub`: no FIC matches (AADSTS70021), and vault says so."""
    intruder = fleet.enrol("intruder", "other-hosts")
    before = fleet.entra_requests()
    r = fresh_token(intruder["env"])
    assert r.returncode == 77, r.stderr.decode()
    assert b"entra.federated_no_match" in r.stderr or b"federated credential" in r.stderr, r.stderr.decode()
    assert fleet.entra_requests() - before == 1


def test_revoking_a_host(fleet, capsys):
    """Destroying a host's secret id: vault logs in at every token fetch (it keeps no OpenBao token between fetches),
    so the host's next fetch is refused at its login, well within the role's token_ttl, and no new Entra token is
    issued; its cached Entra token is still served until it expires. Revoking a host's OpenBao tokens by accessor
    alone does not stop it (its next fetch logs in again); with its secret id destroyed as well it is refused at once.
    The other hosts go on."""
    h0, h1, h2 = fleet.hosts
    for host in fleet.hosts:
        assert fresh_token(host["env"]).returncode == 0
    cached = vault(h0["env"], "token", "fleet").stdout
    t0 = time.time()
    fleet.bao.api("POST", "/v1/auth/approle/role/hosts/secret-id-accessor/destroy", {"secret_id_accessor": h0["secret_id_accessor"]})
    # A cache hit never asks OpenBao: the host's cached Entra token is served on until it expires.
    assert vault(h0["env"], "token", "fleet").stdout == cached
    before = fleet.entra_requests()
    tries = 0
    while True:
        r = fresh_token(h0["env"])
        tries += 1
        if r.returncode != 0:
            refused = time.time() - t0
            break
        assert time.time() - t0 < TOKEN_TTL + 10, "the revoked host still gets new Entra tokens %.1f s later" % (time.time() - t0)
        time.sleep(0.5)
    assert refused <= TOKEN_TTL + 3
    assert fleet.entra_requests() - before == tries - 1, "a refused fetch reached Entra"
    # A refused login, said as such (exit 77 and what to do), not as an unavailable engine (69) to be retried.
    assert r.returncode == 77 and b"refused this host's AppRole login" in r.stderr and b"new secret id" in r.stderr, r.stderr.decode()
    with capsys.disabled():
        print("\n  secret id destroyed -> first refused fetch: %.2f s (%d tries; role token_ttl %d s)" % (refused, tries, TOKEN_TTL))
    assert fresh_token(h2["env"]).returncode == 0

    # Revoking h1's OpenBao tokens by accessor alone: its next fetch logs in again with its secret id, and works.
    accessors = fleet.token_accessors(h1)
    assert accessors, "no live token of h1 found"
    for a in accessors:
        fleet.bao.api("POST", "/v1/auth/token/revoke-accessor", {"accessor": a})
    assert fresh_token(h1["env"]).returncode == 0
    # Both, as docs/fleets.md says to revoke a host: refused at once.
    fleet.bao.api("POST", "/v1/auth/approle/role/hosts/secret-id-accessor/destroy", {"secret_id_accessor": h1["secret_id_accessor"]})
    for a in fleet.token_accessors(h1):
        fleet.bao.api("POST", "/v1/auth/token/revoke-accessor", {"accessor": a})
    t1 = time.time()
    r = fresh_token(h1["env"])
    assert r.returncode == 77 and time.time() - t1 < 5, r.stderr.decode()
    # The third host of the role: unaffected, the whole time and after h0's old tokens expired.
    time.sleep(max(0, t0 + TOKEN_TTL + 1 - time.time()))
    assert fresh_token(h2["env"]).returncode == 0
    assert fresh_token(h0["env"]).returncode != 0
