"""vault's encrypted MSAL-schema cache and MSAL for Python read each other's tokens."""
import json
import os
import subprocess
import tempfile

import msal

GRAPH_SCOPE = ["https://graph.microsoft.com/.default"]


class Vault:
    def __init__(self, emu, tenant):
        from conftest import bin_dir
        self.dir = tempfile.mkdtemp(prefix="vault-interop-")
        self.env = dict(os.environ, VAULT_DIR=os.path.join(self.dir, "vault"), VAULT_KEY_FILE=os.path.join(self.dir, "key"),
                        VAULT_CA_BUNDLE=emu.ca)
        self.bin = os.path.join(bin_dir(), "vault")
        self.run("init", "--key-file", os.path.join(self.dir, "key"))
        self.run("add-app", "demo", "--tenant", tenant, "--client-id", emu.app["client_id"], "--authority", emu.base,
                 "--graph", emu.base, "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default",
                 stdin=emu.app["secret"])

    def run(self, *args, stdin=None):
        r = subprocess.run([self.bin, *args], input=(stdin or "").encode(), env=self.env, capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr.decode()
        return r.stdout.decode()

    def token(self):
        return json.loads(self.run("token", "demo", "--json"))


def msal_app(emu, tenant, cache):
    return msal.ConfidentialClientApplication(emu.app["client_id"], client_credential=emu.app["secret"],
                                              authority="%s/%s" % (emu.base, tenant), instance_discovery=False, token_cache=cache)


def test_msal_serves_vaults_export_from_cache(emulator):
    vault = Vault(emulator, emulator.info["tenant_domain"])
    first = vault.token()
    assert first["token_source"] == "identity_provider"
    path = os.path.join(vault.dir, "export.json")
    vault.run("cache", "export", "--format", "msal", path)
    assert os.stat(path).st_mode & 0o777 == 0o600

    before = emulator.token_requests()
    cache = msal.SerializableTokenCache()
    with open(path) as f:
        cache.deserialize(f.read())
    for tenant in (emulator.info["tenant_domain"], emulator.info["tenant_id"]):
        result = msal_app(emulator, tenant, cache).acquire_token_for_client(scopes=GRAPH_SCOPE)
        assert result.get("token_source") == "cache", result
        assert result["access_token"] == first["access_token"]
    assert emulator.token_requests() == before, "MSAL must not ask Entra ID for a token vault exported"


def test_vault_imports_a_cache_written_by_msal(emulator):
    cache = msal.SerializableTokenCache()
    result = msal_app(emulator, emulator.info["tenant_id"], cache).acquire_token_for_client(scopes=GRAPH_SCOPE)
    assert result["token_source"] == "identity_provider"
    vault = Vault(emulator, emulator.info["tenant_id"])
    path = os.path.join(vault.dir, "msal-cache.json")
    with open(path, "w") as f:
        f.write(cache.serialize())
    assert "Imported 1 token" in vault.run("cache", "import", path)

    before = emulator.token_requests()
    got = vault.token()
    assert got["token_source"] == "cache"
    assert got["access_token"] == result["access_token"]
    assert emulator.token_requests() == before
