"""`vault serve --metrics-listen`: Prometheus metrics on their own loopback or Unix-socket listener, parsed with the
official Python client; never a token, a secret, the identity header or a refused resource."""
import http.client
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from test_identity_endpoint import Vault

RESOURCE = "https://graph.microsoft.com"


class MetricsServer:
    def __init__(self, vault, metrics_listen="127.0.0.1:0"):
        self.vault = vault
        self.header = os.urandom(24).hex()
        self.header_file = os.path.join(vault.dir, "identity-header")
        with open(self.header_file, "w") as f:
            f.write(self.header + "\n")
        os.chmod(self.header_file, 0o600)
        self.metrics_listen = metrics_listen

    def __enter__(self):
        self.proc = subprocess.Popen([self.vault.bin, "serve", "--app", "demo", "--identity-header-file", self.header_file,
                                      "--listen", "127.0.0.1:0", "--metrics-listen", self.metrics_listen],
                                     env=self.vault.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = self.proc.stderr.readline().decode()
        self.port = int(re.search(r"http://127\.0\.0\.1:(\d+)/msi/token", first).group(1))
        second = self.proc.stderr.readline().decode()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/metrics", second)
        self.metrics_port = int(m.group(1)) if m else None
        assert m or "unix:" in second, second
        return self

    def token(self, resource=RESOURCE):
        return requests.get("http://127.0.0.1:%d/msi/token" % self.port, params={"resource": resource, "api-version": "2019-08-01"},
                            headers={"X-IDENTITY-HEADER": self.header}, timeout=60)

    def metrics(self, accept=None):
        h = {"Accept": accept} if accept else {}
        return requests.get("http://127.0.0.1:%d/metrics" % self.metrics_port, headers=h, timeout=10)

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=20) == 0


@pytest.fixture
def vault(emulator):
    return Vault(emulator)


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams, name, sample, **labels):
    for s in fams[name].samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


def test_metrics_count_tokens_by_source_and_parse(emulator, vault):
    # The expiry is what the vault stored: a rotation records it (--keep-old: the session's emulator secret stays valid).
    vault.run("rotate-secret", "demo", "--expires-in", "90d", "--keep-old")
    vault.run("cache", "clear")
    with MetricsServer(vault) as server:
        t1 = server.token()
        assert t1.status_code == 200, t1.text
        assert server.token().status_code == 200
        assert server.token("https://vault.azure.net").status_code in (400, 403)   # outside the allow-list
        r = server.metrics()
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        fams = families(r.text)
        assert value(fams, "vault_tokens_served", "vault_tokens_served_total", app="demo", resource=RESOURCE, source="fetch") == 1
        assert value(fams, "vault_tokens_served", "vault_tokens_served_total", app="demo", resource=RESOURCE, source="cache") == 1
        assert value(fams, "vault_entra_requests", "vault_entra_requests_total", app="demo") == 1
        assert fams["vault_entra_request_duration_seconds"].type == "histogram"
        assert value(fams, "vault_entra_request_duration_seconds", "vault_entra_request_duration_seconds_count") == 1
        assert value(fams, "vault_entra_request_duration_seconds", "vault_entra_request_duration_seconds_bucket", le="+Inf") == 1
        assert value(fams, "vault_token_last_refresh_timestamp_seconds", "vault_token_last_refresh_timestamp_seconds", app="demo") > time.time() - 300
        assert value(fams, "vault_audit_write_failures", "vault_audit_write_failures_total") == 0
        end = value(fams, "vault_credential_expiry_timestamp_seconds", "vault_credential_expiry_timestamp_seconds", app="demo", credential="secret")
        assert abs(end - (time.time() + 90 * 86400)) < 3600
        assert "vault.azure.net" not in r.text
        # OpenMetrics when the scraper asks for it, parsed by the client's OpenMetrics parser.
        om = server.metrics("application/openmetrics-text; version=1.0.0")
        assert om.headers["Content-Type"].startswith("application/openmetrics-text")
        names = {f.name for f in openmetrics_families(om.text)}
        assert {"vault_tokens_served", "vault_entra_requests", "vault_entra_request_duration_seconds"} <= names
        check_nothing_secret(vault, server, [r.text, om.text], t1.json()["access_token"])


def check_nothing_secret(vault, server, texts, token):
    """The token handed out, its signature, the client secret, the identity header and the key never appear."""
    forbidden = [token, token.split(".")[-1], vault.emu.app["secret"], server.header]
    with open(vault.key, "rb") as f:
        forbidden.append(f.read().hex())
    for text in texts:
        for s in forbidden:
            assert s not in text


def test_entra_errors_by_aadsts_family(emulator, vault):
    with MetricsServer(vault) as server:
        emulator.admin("POST", "/faults", {"path": "/oauth2/v2.0/token", "mode": "403", "count": 1})
        try:
            server.token()
        finally:
            emulator.admin("DELETE", "/faults")
        # Whatever the fault's shape, the error is counted under a family label, never with its text.
        fams = families(server.metrics().text)
        errors = fams["vault_entra_errors"].samples
        assert all(re.fullmatch(r"AADSTS\d+xxx|other", s.labels["family"]) for s in errors)


def test_metrics_endpoint_refuses_browsers_other_paths_and_methods(emulator, vault):
    with MetricsServer(vault) as server:
        base = "http://127.0.0.1:%d" % server.metrics_port
        assert requests.get(base + "/metrics", headers={"Origin": "http://evil.example"}, timeout=10).status_code == 403
        assert requests.get(base + "/metrics", headers={"Host": "evil.example"}, timeout=10).status_code == 403
        assert requests.get(base + "/msi/token", timeout=10).status_code == 404
        assert requests.post(base + "/metrics", data=b"x", timeout=10).status_code in (400, 405)
        # The token endpoint does not serve metrics.
        assert requests.get("http://127.0.0.1:%d/metrics" % server.port, headers={"X-IDENTITY-HEADER": server.header}, timeout=10).status_code != 200


def test_metrics_on_a_unix_socket(emulator, vault):
    path = os.path.join(tempfile.mkdtemp(prefix="vault-metrics-"), "metrics.sock")
    with MetricsServer(vault, metrics_listen=path) as server:
        assert server.token().status_code == 200
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        s.close()
        head, body = data.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200")
        assert "vault_tokens_served" in families(body.decode())
        assert oct(os.stat(path).st_mode & 0o777) == "0o660"


@pytest.mark.parametrize("address", ["0.0.0.0:9100", "192.168.1.10:9100", ":9100", "example.com:9100", "relative.sock", "127.0.0.1:99999"])
def test_metrics_listen_refuses_anything_but_loopback_or_a_socket(vault, address):
    r = vault.run("serve", "--app", "demo", "--listen", "127.0.0.1:0", "--metrics-listen", address, check=False)
    assert r.returncode == 64, r.stderr
    assert r.stderr.startswith(b"vault: error: --metrics-listen") and b"vault: hint:" in r.stderr
