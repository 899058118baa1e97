"""Federated apps (no secret, no key) with real processes: a token file under `vault exec`, where an unmodified
azure-identity program gets its Graph token from vault's managed-identity endpoint. Real processes end to end: a tiny
OIDC issuer over HTTPS with its own CA, vault-emulator trusting that CA (`--issuer-ca`), vault, azure-identity; and
an OpenBao identity token (`backend:NAME/ROLE`) fetched with the host's AppRole login from `bao server -dev -dev-tls`."""
import base64
import datetime
import http.server
import json
import os
import random
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from conftest import bin_dir, start_emulator

HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = os.path.join(HERE, "identity", "child.py")
CLIENT_ID = "77777777-7777-7777-7777-777777777777"
SUBJECT = "system:serviceaccount:prod:reporter"


def b64url_uint(n):
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Issuer:
    """`https://127.0.0.1:PORT/oidc`: a discovery document and a JWKS, served with a certificate of its own CA."""

    def __init__(self, directory):
        now = datetime.datetime.now(datetime.timezone.utc)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "federated interop CA")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
              .not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .sign(ca_key, hashes.SHA256()))
        key = ec.generate_private_key(ec.SECP256R1())
        import ipaddress
        cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        self.ca_path = os.path.join(directory, "issuer-ca.pem")
        with open(self.ca_path, "wb") as f:
            f.write(ca.public_bytes(serialization.Encoding.PEM))
        cert_path, key_path = os.path.join(directory, "issuer.pem"), os.path.join(directory, "issuer.key")
        with open(cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.signing_key.public_key().public_numbers()
        jwks = {"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256", "n": b64url_uint(numbers.n), "e": b64url_uint(numbers.e)}]}
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/oidc/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/keys", "response_types_supported": ["id_token"],
                            "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"]}
                elif self.path == "/oidc/keys":
                    body = jwks
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = "https://127.0.0.1:%d/oidc" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, subject=SUBJECT, lifetime=600):
        now = int(time.time())
        claims = {"iss": self.url, "sub": subject, "aud": "api://AzureADTokenExchange", "iat": now, "nbf": now, "exp": now + lifetime}
        return jwt.encode(claims, self.signing_key, algorithm="RS256", headers={"kid": "k1"})

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def federated():
    directory = tempfile.mkdtemp(prefix="vault-fed-interop-")
    issuer = Issuer(directory)
    config = {"apps": [{"name": "fed-app", "client_id": CLIENT_ID, "roles": ["User.Read.All"],
                        "federated_credentials": [{"name": "k8s", "issuer": issuer.url, "subject": SUBJECT,
                                                   "audiences": ["api://AzureADTokenExchange"]}]}],
              "users": 20}
    config_path = os.path.join(directory, "config.json")
    with open(config_path, "w") as f:
        json.dump(config, f)
    emu = start_emulator("--config", config_path, "--issuer-ca", issuer.ca_path, "--issuer-cache", "0")
    yield issuer, emu, directory
    emu.proc.kill()
    emu.proc.wait(timeout=10)
    issuer.stop()


def test_azure_identity_under_exec_with_a_federated_app(federated):
    issuer, emu, directory = federated
    token_file = os.path.join(directory, "token")
    external = issuer.token()
    with open(token_file + ".new", "w") as f:
        f.write(external + "\n")
    os.rename(token_file + ".new", token_file)
    key = os.path.join(directory, "key")
    env = dict(os.environ, VAULT_DIR=os.path.join(directory, "vault"), VAULT_KEY_FILE=key, VAULT_CA_BUNDLE=emu.ca, GRAPH_BASE=emu.base,
               REQUESTS_CA_BUNDLE=emu.ca, NO_PROXY="127.0.0.1,localhost")
    vault = os.path.join(bin_dir(), "vault")

    def run(*args, check=True):
        r = subprocess.run([vault, *args], env=env, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        if check:
            assert r.returncode == 0, r.stderr.decode()
        return r

    run("init", "--key-file", key)
    run("add-app", "fed", "--tenant", emu.info["tenant_id"], "--client-id", CLIENT_ID, "--authority", emu.base, "--graph", emu.base,
        "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default", "--federated", "file:" + token_file)
    r = run("exec", "fed", "--", sys.executable, CHILD, "azure-mi")
    report = json.loads(r.stdout)
    assert report["users"] == 5
    assert report["identity_endpoint"].startswith("http://127.0.0.1:")
    # The external token reaches neither the child nor vault's output.
    for text in (report["environ"], report["cmdline"], r.stderr.decode()):
        assert external not in text and external.split(".")[2] not in text
    assert emu.token_requests(CLIENT_ID) == 1
    with open(os.path.join(directory, "vault", "audit.log")) as f:
        lines = [json.loads(line) for line in f]
    fetch = [e for e in lines if e["event"] == "entra.token_request"]
    assert fetch and fetch[0]["issuer"] == issuer.url and fetch[0]["subject"] == SUBJECT and fetch[0]["outcome"] == "ok"


class TLSBao:
    """`bao server -dev -dev-tls` on a free port: its identity tokens' issuer is its own HTTPS address, whose CA the
    emulator is told to trust, as Entra ID trusts a public one."""

    def __init__(self, directory):
        from openbao import bao_binary
        self.port = random.randrange(20000, 40000, 2)
        self.root = "root-%d" % random.randrange(1 << 30)
        self.addr = "https://127.0.0.1:%d" % self.port
        self.certs = os.path.join(directory, "bao-tls")
        os.makedirs(self.certs)
        self.proc = subprocess.Popen([bao_binary(), "server", "-dev", "-dev-tls", "-dev-tls-cert-dir=" + self.certs,
                                      "-dev-root-token-id=" + self.root, "-dev-listen-address=127.0.0.1:%d" % self.port,
                                      "-dev-no-store-token"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ca = os.path.join(self.certs, "vault-ca.pem")
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if os.path.exists(self.ca) and requests.get(self.addr + "/v1/sys/health", timeout=1, verify=self.ca).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.05)

    def api(self, method, path, body=None, token=None):
        r = requests.request(method, self.addr + path, json=body, headers={"X-Vault-Token": token or self.root}, timeout=10, verify=self.ca)
        assert r.status_code in (200, 204), (path, r.status_code, r.text)
        return r.json() if r.text else {}

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def test_backend_identity_token_source(tmp_path):
    """`--federated backend:NAME/ROLE`: an OpenBao identity token, fetched with the host's AppRole login, is the assertion."""
    directory = str(tmp_path)
    bao = TLSBao(directory)
    try:
        bao.api("POST", "/v1/identity/oidc/config", {"issuer": bao.addr})
        bao.api("POST", "/v1/identity/oidc/key/azure", {"algorithm": "RS256", "allowed_client_ids": "*"})
        bao.api("POST", "/v1/identity/oidc/role/azure", {"key": "azure", "client_id": "api://AzureADTokenExchange", "ttl": "10m"})
        bao.api("POST", "/v1/sys/auth/approle", {"type": "approle"})
        bao.api("PUT", "/v1/sys/policies/acl/idtoken", {"policy": 'path "identity/oidc/token/azure" { capabilities = ["read"] }'})
        bao.api("POST", "/v1/auth/approle/role/host", {"token_policies": ["idtoken"], "token_ttl": "20m"})
        role_id = bao.api("GET", "/v1/auth/approle/role/host/role-id")["data"]["role_id"]
        # The subject is the role's entity: one login (here) shows it; vault's own login has the same entity.
        probe = bao.api("POST", "/v1/auth/approle/login", {"role_id": role_id,
                                                          "secret_id": bao.api("POST", "/v1/auth/approle/role/host/secret-id", {})["data"]["secret_id"]})
        issued = bao.api("GET", "/v1/identity/oidc/token/azure", token=probe["auth"]["client_token"])["data"]["token"]
        claims = jwt.decode(issued, options={"verify_signature": False})
        issuer, subject = claims["iss"], claims["sub"]
        assert subject == probe["auth"]["entity_id"] and claims["aud"] == "api://AzureADTokenExchange"

        config = {"apps": [{"name": "fed-app", "client_id": CLIENT_ID, "roles": ["User.Read.All"],
                            "federated_credentials": [{"name": "bao", "issuer": issuer, "subject": subject,
                                                       "audiences": ["api://AzureADTokenExchange"]}]}], "users": 20}
        config_path = os.path.join(directory, "config.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        emu = start_emulator("--config", config_path, "--issuer-ca", bao.ca, "--issuer-cache", "0")
        try:
            key = os.path.join(directory, "key")
            env = dict(os.environ, VAULT_DIR=os.path.join(directory, "vault"), VAULT_KEY_FILE=key, VAULT_CA_BUNDLE=emu.ca)
            vault = os.path.join(bin_dir(), "vault")

            def run(*args, stdin=None):
                return subprocess.run([vault, *args], env=env, capture_output=True, timeout=120, input=(stdin or "").encode())

            assert run("init", "--key-file", key).returncode == 0
            secret_id = bao.api("POST", "/v1/auth/approle/role/host/secret-id", {})["data"]["secret_id"]
            r = run("backend", "add", "bao", "--address", bao.addr, "--ca-bundle", bao.ca, "--approle", role_id, stdin=secret_id)
            assert r.returncode == 0, r.stderr.decode()
            endpoint = ["--tenant", emu.info["tenant_id"], "--client-id", CLIENT_ID, "--authority", emu.base, "--graph", emu.base,
                        "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default"]
            missing = run("add-app", "fed", *endpoint, "--federated", "backend:nosuch/azure")
            assert missing.returncode == 64 and b"no backend named 'nosuch'" in missing.stderr
            r = run("add-app", "fed", *endpoint, "--federated", "backend:bao/azure")
            assert r.returncode == 0, r.stderr.decode()
            r = run("token", "fed", "--json", "-vv")
            assert r.returncode == 0, r.stderr.decode()
            assert json.loads(r.stdout)["token_source"] == "identity_provider"
            assert emu.token_requests(CLIENT_ID) == 1
            # No identity token is in the -vv log (the backend's answer, the token request) or the audit log.
            with open(os.path.join(directory, "vault", "audit.log")) as f:
                log = f.read()
            fetch = [json.loads(line) for line in log.splitlines() if '"entra.token_request"' in line]
            assert fetch[0]["issuer"] == issuer and fetch[0]["subject"] == subject
            assert "/v1/identity/oidc/token/azure" in r.stderr.decode(), "the -vv log shows the backend request"
            for text in (r.stderr.decode(), log):
                assert not re.search(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{40,}", text)
            role = run("add-app", "fed2", *endpoint, "--federated", "backend:bao/no-such-role")
            assert role.returncode == 0
            # A role the host's policy does not cover: the backend says no, and the hint names the policy path.
            refused = run("token", "fed2")
            assert refused.returncode == 77 and b'policy needs a rule for path "identity/oidc/token/no-such-role"' in refused.stderr, refused.stderr.decode()
        finally:
            emu.proc.kill()
            emu.proc.wait(timeout=10)
    finally:
        bao.stop()


def test_the_offline_federated_demo_runs():
    """scripts/demo_federated.py (what scripts/demo-federated.sh runs): the move from a secret to a federated credential
    with a local issuer, end to end; it checks the registration itself and fails on any vault error."""
    script = os.path.join(HERE, "..", "..", "scripts", "demo_federated.py")
    r = subprocess.run([sys.executable, script], capture_output=True, timeout=600, env=dict(os.environ))
    out = r.stdout.decode()
    assert r.returncode == 0, out + r.stderr.decode()
    assert "Moved 'mailer' to a federated credential" in out and "0 password(s), 1 federated credential(s)" in out
    assert "credential:           federated" in out and '"userPrincipalName"' in out
