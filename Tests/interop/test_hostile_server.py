"""vault against a server that lies: every hostile answer gives one clear `vault: error:` line and a sysexits code,
never a crash or a hang, stays under 64 MiB of peak RSS, and leaves the vault directory byte-identical."""
import json
import os
import resource
import subprocess
import tempfile
import time

import pytest
import requests

import hostile_server
from conftest import bin_dir

SYSEXITS = {64, 65, 66, 69, 70, 74, 75, 77, 78}
CLIENT = "22222222-2222-2222-2222-222222222222"
SECRET = "abc8Q~hostile-test-secret-0123456789abcd"


def run(vault_env, args, timeout=60):
    """Runs vault; returns (status, stdout, stderr, peak RSS in KiB) of that one process. The peak is VmHWM of
    /proc/PID/status sampled every 5 ms: wait4's ru_maxrss would include the pre-exec size of this Python process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.posix_spawn(os.path.join(bin_dir(), "vault"), ["vault", *args], vault_env, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
            (os.POSIX_SPAWN_DUP2, err.fileno(), 2)])
        deadline = time.time() + timeout
        peak = 0
        while True:
            try:
                with open("/proc/%d/status" % pid) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak = max(peak, int(line.split()[1]))
            except OSError:
                pass
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.time() > deadline:
                os.kill(pid, 9)
                os.wait4(pid, 0)
                raise AssertionError("vault %s hung for %d s" % (args, timeout))
            time.sleep(0.005)
        out.seek(0)
        err.seek(0)
        return (os.waitstatus_to_exitcode(status), out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                peak)


def snapshot(d):
    files = {}
    for root, _, names in os.walk(d):
        for name in sorted(names):
            # The audit log records failed attempts by design; expect_error checks it holds no secret.
            if name.endswith(".lock") or name == "audit.log":
                continue
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, d)] = f.read()
    return files


class HostileVault:
    def __init__(self, server, ca=None):
        self.server = server
        self.dir = tempfile.mkdtemp(prefix="vault-hostile-")
        self.vault = os.path.join(self.dir, "vault")
        self.env = dict(os.environ, VAULT_DIR=self.vault, VAULT_KEY_FILE=os.path.join(self.dir, "key"))
        self.env.pop("VAULT_CA_BUNDLE", None)
        if ca:
            self.env["VAULT_CA_BUNDLE"] = ca
        subprocess.run([os.path.join(bin_dir(), "vault"), "init", "--key-file", os.path.join(self.dir, "key")],
                       env=self.env, check=True, capture_output=True)
        r = subprocess.run([os.path.join(bin_dir(), "vault"), "add-app", "h", "--tenant", hostile_server.TENANT,
                            "--client-id", CLIENT, "--authority", server.base, "--graph", server.base,
                            "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default"],
                           env=self.env, input=SECRET.encode(), capture_output=True)
        assert r.returncode == 0, r.stderr

    def mode(self, **modes):
        self.server.modes.clear()
        self.server.modes.update(modes)

    def expect_error(self, args, contains, timeout=60, keep_cache=False):
        before = snapshot(self.vault)
        status, out, err, rss = run(self.env, args, timeout)
        assert status in SYSEXITS, "exit %d (crash?) for %s: %s" % (status, args, err)
        lines = [l for l in err.splitlines() if l.startswith("vault: error:")]
        assert len(lines) == 1, err
        assert contains in lines[0], err
        assert rss < 64 * 1024, "peak RSS %d KiB" % rss
        after = snapshot(self.vault)
        if keep_cache:
            before = {k: v for k, v in before.items() if not k.startswith("tokens")}
            after = {k: v for k, v in after.items() if not k.startswith("tokens")}
        assert after == before, "the vault directory changed"
        assert SECRET not in out + err
        audit = os.path.join(self.vault, "audit.log")
        if os.path.exists(audit):
            with open(audit) as f:
                text = f.read()
            assert SECRET not in text
            for line in text.splitlines():
                event = json.loads(line)  # whole lines, whatever the server sent
                assert {"time", "event", "app", "outcome"} <= set(event), event
        return status, err


@pytest.fixture(scope="module")
def hostile():
    server = hostile_server.start()
    yield server
    server.shutdown()


TOKEN_CASES = [
    ("html", "token response could not be read"),
    ("deep", "token response could not be read"),
    ("bigstring", "token response could not be read"),
    ("badutf8", "token response could not be read"),
    ("expires:-1", "unusable expires_in"),
    ("expires:0", "unusable expires_in"),
    ("expires:1e300", "unusable expires_in"),
    ('expires:"9223372036854775807"', "unusable expires_in"),
    ("expires:3599.5", "unusable expires_in"),
    ("wrong_tid", "issued a token for tenant 99999999"),
    ("retry_after:Sun, 06 Nov 10000000000000 08:49:37 GMT", "Entra ID"),
    ("retry_after:1e308", "Entra ID"),
    ("retry_after:-5", "Entra ID"),
    ("gzip_bomb", ""),
    ("gzip_truncated", ""),
]


@pytest.mark.parametrize("mode,message", TOKEN_CASES, ids=[c[0] for c in TOKEN_CASES])
def test_hostile_token_endpoint(hostile, mode, message):
    v = HostileVault(hostile)
    v.mode(token=mode)
    v.expect_error(["token", "h"], message, timeout=120)


@pytest.mark.parametrize("command", [["token", "h"], ["run", "users", "h", "-q"]])
def test_server_text_cannot_drive_the_terminal(hostile, command):
    """Entra's error_description reaches the user's terminal with its control characters made visible: no OSC title,
    no screen clear, no C1 CSI, no right-to-left override."""
    v = HostileVault(hostile)
    v.mode(token="escapes")
    status, err = v.expect_error(command, "Invalid client secret", timeout=60)
    for raw in ("\x1b", "\x07", "\u009b", "\u202e"):
        assert raw not in err, (raw, err)
    assert "\\u{1b}]0;pwned\\u{7}" in err, err


def test_slowloris_token_endpoint(hostile):
    v = HostileVault(hostile)
    v.mode(token="slow")
    status, err = v.expect_error(["token", "h", "--timeout", "3"], "within 3 s", timeout=60)
    assert status == 75


GRAPH_ERRORS = [
    ("loop", "repeats a page already read"),
    ("link:http://evil.example/v1.0/users?$skiptoken=x", "refusing to follow a link"),
    ("link:http://user@127.0.0.1:1/v1.0/users", "refusing to follow a link"),
    ("link:http://127.0.0.1.evil.example/v1.0/users", "refusing to follow a link"),
    ("link:https://127.0.0.1/v1.0/users", "refusing to follow a link"),
    ("link:http://xn--12-ylc.example/v1.0/users", "refusing to follow a link"),
    ("link:BASE@evil.example/v1.0/users", "refusing to follow a link"),
    ("html", "not a JSON object"),
    ("array_items", "not a JSON object"),
    ("scalar_items", "item 1 of Graph's page is not a JSON object"),
    ("gzip_bomb", ""),
    ("retry_after:Sun, 06 Nov 10000000000000 08:49:37 GMT", "Graph"),
]


@pytest.mark.parametrize("mode,message", GRAPH_ERRORS, ids=[c[0] for c in GRAPH_ERRORS])
def test_hostile_graph(hostile, mode, message):
    v = HostileVault(hostile)
    v.mode(token="ok", graph=mode)
    v.expect_error(["run", "users", "h", "--output", "ndjson", "-q"], message, timeout=120, keep_cache=True)


def test_slowloris_graph_page(hostile):
    v = HostileVault(hostile)
    v.mode(token="ok", graph="slow")
    status, err = v.expect_error(["run", "users", "h", "--timeout", "3", "-q"], "within 3 s", timeout=60, keep_cache=True)
    assert status == 75


@pytest.mark.parametrize("output", ["table", "csv", "ndjson", "json"])
def test_broken_surrogates_never_crash(hostile, output):
    v = HostileVault(hostile)
    v.mode(token="ok", graph="surrogate")
    status, out, err, rss = run(v.env, ["run", "users", "h", "--output", output, "--select", "displayName,userPrincipalName,mail"])
    assert status == 0, err
    if output in ("table", "csv"):
        assert "bad \ufffdA pair" in out
    else:
        assert "\\uD83D\\u0041" in out  # JSON and NDJSON stay exact


@pytest.mark.parametrize("mode", ["deep", "bigstring", "badutf8"])
def test_odd_but_bounded_graph_values(hostile, mode):
    v = HostileVault(hostile)
    v.mode(token="ok", graph=mode)
    status, out, err, rss = run(v.env, ["run", "users", "h", "--output", "table", "--select", "displayName,id"])
    assert status == 0 or (status in SYSEXITS and err.count("vault: error:") == 1), err
    assert rss < 64 * 1024, "peak RSS %d KiB" % rss


def test_table_escapes_terminal_controls_and_csv_neutralises_formulas(hostile):
    v = HostileVault(hostile)
    v.mode(token="ok", graph="controls")
    status, out, err, _ = run(v.env, ["run", "users", "h", "--output", "table", "--select", "displayName"])
    assert status == 0, err
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "\\u{1b}]0;pwned\\u{7}" in out  # shown escaped
    status, out, err, _ = run(v.env, ["run", "users", "h", "--output", "csv", "--select", "displayName"])
    assert status == 0, err
    assert out.splitlines()[2].startswith("\"'=HYPERLINK(")
    status, out, err, _ = run(v.env, ["run", "users", "h", "--output", "ndjson", "--select", "displayName"])
    rows = [json.loads(l) for l in out.splitlines()]
    assert rows[0]["displayName"] == "\x1b]0;pwned\x07\x1b[2J\u202egnp.exe"  # JSON stays exact
    assert rows[1]["displayName"] == "=HYPERLINK(\"http://evil.example\",\"x\")"


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def test_tls_certificate_for_another_host_and_untrusted_ca(tmp_path):
    ca_key, ca, key, csr, cert = (str(tmp_path / n) for n in ("ca.key", "ca.pem", "s.key", "s.csr", "s.pem"))
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "1", "-subj", "/CN=hostile CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=evil.example")
    ext = tmp_path / "ext.cnf"
    ext.write_text("subjectAltName=DNS:evil.example\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "1",
            "-extfile", str(ext))
    server = hostile_server.start(cert, key)
    try:
        server.modes["token"] = "ok"
        other_host = HostileVault(server, ca=ca)
        other_host.expect_error(["token", "h"], "TLS")
        untrusted = HostileVault(server)
        untrusted.expect_error(["token", "h"], "TLS")
    finally:
        server.shutdown()
