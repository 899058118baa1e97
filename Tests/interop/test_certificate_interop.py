"""MSAL for Python and vault use the same certificate against the emulator: both assertion forms MSAL makes (PS256 with
x5t#S256 from `public_certificate`, RS256 with the SHA-1 `thumbprint`) and vault's are accepted by the same checks."""
import json
import os
import subprocess
import tempfile

import msal
import pytest

from conftest import bin_dir

GRAPH_SCOPE = ["https://graph.microsoft.com/.default"]


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def cert(emulator):
    d = tempfile.mkdtemp(prefix="vault-cert-interop-")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "30",
            "-subj", "/CN=interop", cwd=d)
    os.chmod(os.path.join(d, "key.pem"), 0o600)
    pem = open(os.path.join(d, "cert.pem")).read()
    emulator.admin("POST", "/apps/%s/upload-certificate" % emulator.app["client_id"], {"pem": pem})
    fp = subprocess.run(["openssl", "x509", "-in", "cert.pem", "-noout", "-fingerprint", "-sha1"], cwd=d, check=True,
                        capture_output=True, text=True).stdout.strip().split("=")[1].replace(":", "")
    return {"dir": d, "cert": pem, "key": open(os.path.join(d, "key.pem")).read(), "sha1": fp}


def msal_token(emulator, credential):
    app = msal.ConfidentialClientApplication(emulator.app["client_id"], client_credential=credential,
                                             authority="%s/%s" % (emulator.base, emulator.info["tenant_id"]),
                                             instance_discovery=False, token_cache=msal.TokenCache())
    return app.acquire_token_for_client(scopes=GRAPH_SCOPE)


def test_msal_ps256_with_public_certificate(emulator, cert):
    r = msal_token(emulator, {"private_key": cert["key"], "public_certificate": cert["cert"]})
    assert "access_token" in r, r


def test_msal_rs256_with_sha1_thumbprint(emulator, cert):
    r = msal_token(emulator, {"private_key": cert["key"], "thumbprint": cert["sha1"]})
    assert "access_token" in r, r


def test_msal_with_an_unregistered_certificate_is_refused(emulator, cert):
    d = tempfile.mkdtemp(prefix="vault-cert-other-")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "k.pem", "-out", "c.pem", "-days", "30", "-subj", "/CN=x", cwd=d)
    r = msal_token(emulator, {"private_key": open(os.path.join(d, "k.pem")).read(),
                              "public_certificate": open(os.path.join(d, "c.pem")).read()})
    assert r.get("error") == "invalid_client" and 700027 in r.get("error_codes", []), r


def test_vault_with_the_same_pem(emulator, cert):
    d = tempfile.mkdtemp(prefix="vault-cert-vault-")
    env = dict(os.environ, VAULT_DIR=os.path.join(d, "vault"), VAULT_KEY_FILE=os.path.join(d, "key"), VAULT_CA_BUNDLE=emulator.ca)
    vault = os.path.join(bin_dir(), "vault")

    def run(*args):
        r = subprocess.run([vault, *args], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r

    run("init", "--key-file", env["VAULT_KEY_FILE"])
    add = run("add-app", "interop", "--authority", "%s/%s" % (emulator.base, emulator.info["tenant_id"]),
              "--client-id", emulator.app["client_id"], "--graph", emulator.base, "--allow-custom-endpoint",
              "--scope", GRAPH_SCOPE[0], "--certificate", os.path.join(cert["dir"], "cert.pem"),
              "--key", os.path.join(cert["dir"], "key.pem"))
    assert cert["sha1"] in add.stdout
    token = json.loads(run("token", "interop", "--output", "json").stdout)
    assert token["token_source"] == "identity_provider" and token["access_token"].count(".") == 2
