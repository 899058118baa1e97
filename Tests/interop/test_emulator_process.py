"""vault-emulator as a process: where it listens, --port-file, --http, clean exit on SIGTERM and SIGINT."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

import pexpect
import requests

from conftest import bin_dir

EMULATOR = os.path.join(bin_dir(), "vault-emulator")


def start(*args):
    state = tempfile.mkdtemp(prefix="vault-emu-proc-")
    port_file = os.path.join(state, "port")
    p = subprocess.Popen([EMULATOR, "--state-dir", state + "/s", "--port-file", port_file, "--users", "5", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while not os.path.exists(port_file) or not open(port_file).read().strip():
        assert p.poll() is None and time.time() < deadline, "emulator did not start"
        time.sleep(0.05)
    return p, state, int(open(port_file).read())


def test_sigterm_and_sigint_stop_it_cleanly():
    for sig in (signal.SIGTERM, signal.SIGINT):
        p, state, port = start()
        line = p.stdout.readline()
        assert line.startswith("vault-emulator listening on https://127.0.0.1:%d" % port), line
        info = json.load(open(state + "/s/emulator.json"))
        assert info["port"] == port
        assert oct(os.stat(state + "/s/emulator.json").st_mode & 0o777) == "0o600"
        p.send_signal(sig)
        assert p.wait(timeout=30) == 0
        assert "vault-emulator stopped" in p.stdout.read()
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, "the port is closed after the stop"


def test_plain_http_mode_and_loopback_only():
    p, state, port = start("--http")
    try:
        info = json.load(open(state + "/s/emulator.json"))
        assert info["authority_host"] == "http://127.0.0.1:%d" % port
        assert info.get("ca") is None
        r = requests.get("http://127.0.0.1:%d/%s/v2.0/.well-known/openid-configuration" % (port, info["tenant_id"]), timeout=10)
        assert r.status_code == 200
        # Bound to 127.0.0.1 only: another local address of this host does not answer.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            other = s.getsockname()[0]
        if other != "127.0.0.1":
            with socket.socket() as s:
                assert s.connect_ex((other, port)) != 0
    finally:
        p.kill()


def test_progress_line_on_a_terminal_and_quiet(emulator):
    from test_vault_cache_interop import Vault
    vault = Vault(emulator, emulator.info["tenant_id"])
    p = pexpect.spawn(vault.bin, ["run", "users", "demo", "--output", "ndjson", "--top", "100"], env=vault.env, encoding="utf-8", timeout=60)
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 0
    assert "250 users, 3 pages" in p.before
    p = pexpect.spawn(vault.bin, ["run", "users", "demo", "--output", "ndjson", "--top", "100", "--quiet"], env=vault.env, encoding="utf-8", timeout=60)
    p.expect(pexpect.EOF)
    p.close()
    assert " users, " not in p.before
