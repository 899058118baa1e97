"""OpenBao as the OIDC issuer of a federated identity credential (issue 28, the fleet part), against a real
`bao server -dev -dev-tls`: the hosts of one AppRole role share one entity and so one `sub`; `vault issuer publish`
writes the discovery document and keys for static hosting; `vault issuer check` reads the hosted copy (a small HTTPS
server with its own test CA) and fails, naming the key id, once a key rotation leaves it behind; and vault-emulator,
trusting that CA, takes an OpenBao identity token as a client assertion through a federated credential."""
import base64
import http.server
import json
import os
import random
import shutil
import ssl
import stat
import subprocess
import tempfile
import threading
import time

import pytest
import requests

from conftest import bin_dir, start_emulator
from openbao import bao_binary, free_port

VAULT = os.path.join(bin_dir(), "vault")
AUDIENCE = "api://AzureADTokenExchange"


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def jwt(token):
    def part(x):
        return json.loads(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))
    h, p, _ = token.split(".")
    return part(h), part(p)


class TLSBao:
    """`bao server -dev -dev-tls`: its own CA in `ca`, an AppRole mount, an RS256 key and role whose `aud` is Entra's."""

    def __init__(self, d):
        self.certs = os.path.join(d, "bao-certs")
        os.makedirs(self.certs)
        self.port = random.randrange(20000, 40000, 2)
        self.root = "root-%d" % random.randrange(1 << 30)
        self.addr = "https://127.0.0.1:%d" % self.port
        self.ca = os.path.join(self.certs, "vault-ca.pem")
        self.proc = subprocess.Popen([bao_binary(), "server", "-dev", "-dev-tls", "-dev-tls-cert-dir=" + self.certs,
                                      "-dev-root-token-id=" + self.root, "-dev-listen-address=127.0.0.1:%d" % self.port,
                                      "-dev-no-store-token"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while True:
            try:
                if os.path.exists(self.ca) and requests.get(self.addr + "/v1/sys/health", verify=self.ca, timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.time() < deadline, "bao -dev-tls did not start"
            time.sleep(0.05)

    def api(self, method, path, body=None, token=None, ok=(200, 204)):
        r = requests.request(method, self.addr + path, json=body, headers={"X-Vault-Token": token or self.root},
                             verify=self.ca, timeout=10)
        assert r.status_code in ok, (path, r.status_code, r.text)
        return r.json() if r.text else {}

    def login(self, role):
        role_id = self.api("GET", "/v1/auth/approle/role/%s/role-id" % role)["data"]["role_id"]
        secret_id = self.api("POST", "/v1/auth/approle/role/%s/secret-id" % role, {})["data"]["secret_id"]
        auth = requests.post(self.addr + "/v1/auth/approle/login", json={"role_id": role_id, "secret_id": secret_id},
                             verify=self.ca, timeout=10).json()["auth"]
        return auth

    def identity_token(self, client_token):
        return self.api("GET", "/v1/identity/oidc/token/fleet", token=client_token)["data"]["token"]

    def live_kids(self):
        return [k["kid"] for k in requests.get(self.addr + "/v1/identity/oidc/.well-known/keys", verify=self.ca, timeout=10).json()["keys"]]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class StaticIssuer:
    """A static HTTPS host (test CA `ca`) serving DIR at /v1/identity/oidc/, as application/json."""

    def __init__(self, d):
        self.dir = os.path.join(d, "www")
        self.ca = os.path.join(d, "ca.pem")
        ca_key, key, csr, cert, ext = (os.path.join(d, n) for n in ("ca.key", "s.key", "s.csr", "s.pem", "ext.cnf"))
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", self.ca, "-days", "1", "-subj", "/CN=issuer test CA")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "1", "-extfile", ext)
        root = self.dir

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                prefix = "/v1/identity/oidc/"
                rel = self.path[len(prefix):] if self.path.startswith(prefix) else None
                path = os.path.join(root, rel) if rel and ".." not in rel else None
                if path is None or not os.path.isfile(path):
                    self.send_response(404)
                    self.end_headers()
                    return
                body = open(path, "rb").read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.base = "https://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


@pytest.fixture(scope="module")
def world():
    d = tempfile.mkdtemp(prefix="vault-issuer-")
    bao = TLSBao(d)
    www = StaticIssuer(d)
    try:
        bao.api("POST", "/v1/identity/oidc/config", {"issuer": www.base})
        bao.api("POST", "/v1/identity/oidc/key/fleet", {"algorithm": "RS256", "allowed_client_ids": [AUDIENCE]})
        bao.api("POST", "/v1/identity/oidc/role/fleet", {"key": "fleet", "client_id": AUDIENCE, "ttl": "10m"})
        bao.api("PUT", "/v1/sys/policies/acl/issuer", {"policy": 'path "identity/oidc/token/fleet" { capabilities = ["read"] }'})
        bao.api("POST", "/v1/sys/auth/approle", {"type": "approle"})
        for role in ("hosts", "other-hosts"):
            bao.api("POST", "/v1/auth/approle/role/" + role, {"token_policies": ["issuer"], "token_ttl": "20m"})
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
        env.update(VAULT_DIR=os.path.join(d, "vault"), VAULT_KEY_FILE=os.path.join(d, "key"))
        subprocess.run([VAULT, "init", "--key-file", env["VAULT_KEY_FILE"]], env=env, check=True, capture_output=True)
        role_id = bao.api("GET", "/v1/auth/approle/role/hosts/role-id")["data"]["role_id"]
        secret_id = bao.api("POST", "/v1/auth/approle/role/hosts/secret-id", {})["data"]["secret_id"]
        r = subprocess.run([VAULT, "backend", "add", "fleet", "--address", bao.addr, "--approle", role_id, "--ca-bundle", bao.ca],
                           env=env, input=secret_id.encode(), capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode()
        yield {"bao": bao, "www": www, "env": env, "issuer": www.base + "/v1/identity/oidc"}
    finally:
        www.stop()
        bao.stop()


def vault(world, *args, umask=None):
    return subprocess.run([VAULT, *args], env=world["env"], capture_output=True, timeout=60,
                          preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)


def publish(world, umask=None):
    r = vault(world, "issuer", "publish", "--backend", "fleet", "--out", world["www"].dir, umask=umask)
    assert r.returncode == 0, r.stderr.decode()
    return r


def check(world):
    return vault(world, "issuer", "check", "--url", world["issuer"], "--backend", "fleet", "--ca-bundle", world["www"].ca)


def test_hosts_of_one_approle_role_share_one_subject(world):
    """The claim the fleet design rests on: two secret ids of one AppRole role log in as one entity, so their identity
    tokens carry one `sub` (one federated credential covers the fleet); another role's hosts have another."""
    bao = world["bao"]
    a, b, other = bao.login("hosts"), bao.login("hosts"), bao.login("other-hosts")
    claims = []
    for auth in (a, b, other):
        header, payload = jwt(bao.identity_token(auth["client_token"]))
        assert header["alg"] == "RS256" and header["kid"] in bao.live_kids()
        assert payload["iss"] == world["issuer"] and payload["aud"] == AUDIENCE
        assert payload["sub"] == auth["entity_id"] and payload["exp"] - payload["iat"] == 600
        claims.append(payload)
    assert a["accessor"] != b["accessor"]
    assert claims[0]["sub"] == claims[1]["sub"], "two hosts of one AppRole role got different subjects"
    assert claims[2]["sub"] != claims[0]["sub"], "hosts of another role got the same subject"
    # The entity's one alias is named after the role id: a role deleted and made again (a new role id) is a new
    # subject, which the FIC no longer matches; setting the old role id back finds the old entity again.
    role_id = bao.api("GET", "/v1/auth/approle/role/hosts/role-id")["data"]["role_id"]
    aliases = bao.api("GET", "/v1/identity/entity/id/" + a["entity_id"])["data"]["aliases"]
    assert [x["name"] for x in aliases] == [role_id] and aliases[0]["metadata"] == {"role_name": "hosts"}
    bao.api("POST", "/v1/auth/approle/role/again", {"token_policies": ["issuer"]})
    first = bao.login("again")["entity_id"]
    old_role_id = bao.api("GET", "/v1/auth/approle/role/again/role-id")["data"]["role_id"]
    bao.api("DELETE", "/v1/auth/approle/role/again")
    bao.api("POST", "/v1/auth/approle/role/again", {"token_policies": ["issuer"]})
    assert bao.login("again")["entity_id"] != first
    bao.api("POST", "/v1/auth/approle/role/again/role-id", {"role_id": old_role_id})
    assert bao.login("again")["entity_id"] == first


def test_publish_check_and_a_key_rotation(world):
    bao, www = world["bao"], world["www"]
    r = publish(world, umask=0o077)  # public documents a web server (another user) reads: 0644/0755 whatever the umask
    assert world["issuer"].encode() in r.stdout
    well_known = os.path.join(www.dir, ".well-known")
    assert stat.S_IMODE(os.stat(www.dir).st_mode) == 0o755 and stat.S_IMODE(os.stat(well_known).st_mode) == 0o755
    for name in ("openid-configuration", "keys"):
        assert stat.S_IMODE(os.stat(os.path.join(well_known, name)).st_mode) == 0o644
    doc = json.load(open(os.path.join(well_known, "openid-configuration")))
    assert doc["issuer"] == world["issuer"] and doc["jwks_uri"] == world["issuer"] + "/.well-known/keys"
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    keys = json.load(open(os.path.join(well_known, "keys")))["keys"]
    assert sorted(k["kid"] for k in keys) == sorted(bao.live_kids())
    assert all(set(k) == {"kty", "use", "alg", "kid", "n", "e"} and k["use"] == "sig" for k in keys)

    ok = check(world)
    assert ok.returncode == 0, ok.stderr.decode() + ok.stdout.decode()
    assert b"FAILED" not in ok.stdout and b"every live RS256 key" in ok.stdout

    # A rotation makes a new "next" key: the hosted copy lacks it, and check says which.
    before = set(bao.live_kids())
    bao.api("POST", "/v1/identity/oidc/key/fleet/rotate", {})
    new = set(bao.live_kids()) - before
    assert len(new) == 1
    stale = check(world)
    assert stale.returncode == 65, stale.stderr.decode()
    assert b"vault: error:" in stale.stderr and list(new)[0].encode() in stale.stderr and b"FAILED" in stale.stdout
    assert b"vault issuer publish" in stale.stderr
    # Another issuer given than the one published: a mismatch too.
    wrong = vault(world, "issuer", "check", "--url", world["www"].base, "--ca-bundle", world["www"].ca)
    assert wrong.returncode != 0 and b"vault: error:" in wrong.stderr
    publish(world)
    again = check(world)
    assert again.returncode == 0, again.stderr.decode()
    # An EdDSA named key (in the engine's one key set once a role uses it) is left out of the copy, and said so.
    bao.api("POST", "/v1/identity/oidc/key/ed", {"algorithm": "EdDSA"})
    bao.api("POST", "/v1/identity/oidc/role/ed", {"key": "ed"})
    ed = publish(world)
    assert ed.stderr.count(b"left out: OKP/EdDSA") == 2, ed.stderr.decode()
    assert all(k["kty"] == "RSA" for k in json.load(open(os.path.join(well_known, "keys")))["keys"])
    assert check(world).returncode == 0
    # No public issuer set: the engine names its own address, and publish says Entra would go there.
    bao.api("POST", "/v1/identity/oidc/config", {"issuer": ""})
    try:
        own = vault(world, "issuer", "publish", "--backend", "fleet", "--out", tempfile.mkdtemp(prefix="vault-issuer-own-"))
        assert own.returncode == 0 and b"is the backend's own address" in own.stderr, own.stderr.decode()
        assert (bao.addr + "/v1/identity/oidc").encode() in own.stdout
    finally:
        bao.api("POST", "/v1/identity/oidc/config", {"issuer": www.base})


def test_emulator_takes_an_openbao_token_through_a_federated_credential(world):
    """vault-emulator (trusting the static host's CA) as Entra: a FIC with OpenBao's issuer, the fleet's entity as
    subject and Entra's audience; a host's identity token is a client assertion. Another role's token is refused
    (AADSTS70021); two rotations without publishing again leave the signing key out of the copy (AADSTS7000272)."""
    bao, www = world["bao"], world["www"]
    publish(world)
    emu = start_emulator("--issuer-ca", www.ca, "--issuer-cache", "0")
    try:
        app = emu.app
        tenant = emu.info["tenant_id"]
        token_url = "%s/%s/oauth2/v2.0/token" % (emu.base, tenant)
        graph = requests.post(token_url, verify=emu.ca, timeout=30, data={
            "grant_type": "client_credentials", "client_id": app["client_id"], "client_secret": app["secret"],
            "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
        host = bao.login("hosts")
        fic = {"name": "openbao-fleet", "issuer": world["issuer"], "subject": host["entity_id"], "audiences": [AUDIENCE]}
        r = requests.post("%s/v1.0/applications(appId='%s')/federatedIdentityCredentials" % (emu.info["graph"], app["client_id"]),
                          json=fic, headers={"Authorization": "Bearer " + graph}, verify=emu.ca, timeout=30)
        assert r.status_code == 201, r.text

        def exchange(assertion):
            return requests.post(token_url, verify=emu.ca, timeout=30, data={
                "grant_type": "client_credentials", "client_id": app["client_id"], "client_assertion": assertion,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "scope": "https://graph.microsoft.com/.default"})

        got = exchange(bao.identity_token(host["client_token"]))
        assert got.status_code == 200 and "access_token" in got.json(), got.text
        # A second host of the same role: the same FIC.
        assert exchange(bao.identity_token(bao.login("hosts")["client_token"])).status_code == 200
        refused = exchange(bao.identity_token(bao.login("other-hosts")["client_token"]))
        assert refused.status_code == 400 and "AADSTS70021" in refused.text, refused.text
        # One rotation: the new signing key was the published "next" key, so the old copy still serves it.
        published = [k["kid"] for k in json.load(open(os.path.join(www.dir, ".well-known", "keys")))["keys"]]
        before = jwt(bao.identity_token(host["client_token"]))[0]["kid"]
        bao.api("POST", "/v1/identity/oidc/key/fleet/rotate", {})
        token = bao.identity_token(host["client_token"])
        assert jwt(token)[0]["kid"] != before and jwt(token)[0]["kid"] in published
        assert exchange(token).status_code == 200
        # A second: the signing key is one the copy has never seen.
        bao.api("POST", "/v1/identity/oidc/key/fleet/rotate", {})
        stale = exchange(bao.identity_token(host["client_token"]))
        assert stale.status_code == 401 and "AADSTS7000272" in stale.text, stale.text
        publish(world)
        assert exchange(bao.identity_token(host["client_token"])).status_code == 200
    finally:
        emu.proc.kill()
        emu.proc.wait(timeout=10)


def test_revoking_a_host(world):
    """Destroying a host's secret id does not end its token: it still gets identity tokens (and may renew) until
    its token is revoked too; revoke-accessor ends it at once."""
    bao = world["bao"]
    role_id = bao.api("GET", "/v1/auth/approle/role/hosts/role-id")["data"]["role_id"]
    s = bao.api("POST", "/v1/auth/approle/role/hosts/secret-id", {})["data"]
    auth = requests.post(bao.addr + "/v1/auth/approle/login", json={"role_id": role_id, "secret_id": s["secret_id"]},
                         verify=bao.ca, timeout=10).json()["auth"]
    bao.api("POST", "/v1/auth/approle/role/hosts/secret-id-accessor/destroy", {"secret_id_accessor": s["secret_id_accessor"]})
    assert bao.identity_token(auth["client_token"])
    bao.api("POST", "/v1/auth/token/revoke-accessor", {"accessor": auth["accessor"]})
    r = requests.get(bao.addr + "/v1/identity/oidc/token/fleet", headers={"X-Vault-Token": auth["client_token"]}, verify=bao.ca, timeout=10)
    assert r.status_code == 403
    login = requests.post(bao.addr + "/v1/auth/approle/login", json={"role_id": role_id, "secret_id": s["secret_id"]}, verify=bao.ca, timeout=10)
    assert login.status_code == 400


def test_publish_refuses_a_directory_others_control(world):
    """Whoever can put a key where the documents go can sign tokens Entra accepts: publish never follows DIR/.well-known
    as a symbolic link (another user's planted link would have vault write, and chmod, where it points), and refuses a
    DIR that others can write, or one under a directory others can write that is not sticky. Nothing is written then."""
    base = tempfile.mkdtemp(prefix="vault-issuer-out-")
    try:
        elsewhere = os.path.join(base, "elsewhere")
        os.mkdir(elsewhere, 0o700)
        linked = os.path.join(base, "linked")
        os.mkdir(linked, 0o755)
        os.symlink(elsewhere, os.path.join(linked, ".well-known"))
        r = vault(world, "issuer", "publish", "--backend", "fleet", "--out", linked)
        assert r.returncode == 77, r.stderr.decode()
        assert b"vault: error: cannot publish into" in r.stderr and b"symbolic link" in r.stderr and b"vault: hint:" in r.stderr
        assert os.listdir(elsewhere) == [] and stat.S_IMODE(os.stat(elsewhere).st_mode) == 0o700

        shared = os.path.join(base, "shared")
        os.mkdir(shared)
        os.chmod(shared, 0o777)
        for out in (shared, os.path.join(shared, "issuer")):  # DIR itself, or a DIR to be made under it
            r = vault(world, "issuer", "publish", "--backend", "fleet", "--out", out)
            assert r.returncode == 77 and b"writable by" in r.stderr and b"chmod go-w" in r.stderr, r.stderr.decode()
        assert os.listdir(shared) == []
        # Sticky, as /tmp: others cannot replace what is not theirs, so a DIR made under it is fine.
        os.chmod(shared, 0o1777)
        ok = vault(world, "issuer", "publish", "--backend", "fleet", "--out", os.path.join(shared, "issuer"))
        assert ok.returncode == 0, ok.stderr.decode()
        assert sorted(os.listdir(os.path.join(shared, "issuer", ".well-known"))) == ["keys", "openid-configuration"]
        assert stat.S_IMODE(os.stat(os.path.join(shared, "issuer")).st_mode) == 0o755

        # '..' and an empty --out are refused (a '..' would have vault set the mode of the directory it leads to).
        for out in (os.path.join(base, "new", "..", "linked2"), ""):
            r = vault(world, "issuer", "publish", "--backend", "fleet", "--out", out)
            assert r.returncode == 64 and b"vault: error:" in r.stderr, r.stderr.decode()
        assert not os.path.exists(os.path.join(base, "new"))
        # DIR given through a link of the user's own: what it leads to is checked and used.
        real = os.path.join(base, "real")
        os.mkdir(real, 0o755)
        os.symlink(real, os.path.join(base, "via"))
        ok = vault(world, "issuer", "publish", "--backend", "fleet", "--out", os.path.join(base, "via"))
        assert ok.returncode == 0, ok.stderr.decode()
        assert sorted(os.listdir(os.path.join(real, ".well-known"))) == ["keys", "openid-configuration"]
    finally:
        shutil.rmtree(base, ignore_errors=True)
