"""Fixtures for the interop tests: a real vault-emulator process over HTTPS, and MSAL for Python pointed at it."""
import json
import os
import subprocess
import tempfile
import time

import pytest
import requests


def bin_dir():
    return os.environ.get("VAULT_BIN_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", ".build", "debug")


class Emulator:
    def __init__(self, state_dir, proc):
        self.state_dir = state_dir
        self.proc = proc
        with open(os.path.join(state_dir, "emulator.json")) as f:
            self.info = json.load(f)
        self.base = self.info["authority_host"]
        self.ca = self.info["ca"]
        self.app = self.info["apps"][0]
        self.session = requests.Session()
        self.session.verify = self.ca

    def admin(self, method, path, body=None):
        r = self.session.request(method, self.info["admin"] + path, json=body, timeout=10, verify=self.ca)
        r.raise_for_status()
        return r.json()

    def counters(self):
        return self.admin("GET", "/counters")

    def token_requests(self, client_id=None):
        c = self.counters()["token_requests"].get(client_id or self.app["client_id"], {})
        return sum(c.values())


def start_emulator(*args):
    """A vault-emulator process on a free port with its own state directory; `args` are extra command-line options."""
    state = tempfile.mkdtemp(prefix="vault-emu-interop-")
    proc = subprocess.Popen(
        [os.path.join(bin_dir(), "vault-emulator"), "--state-dir", state, *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    path = os.path.join(state, "emulator.json")
    deadline = time.time() + 60
    while not os.path.exists(path):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise RuntimeError("vault-emulator did not start: %s" % proc.stdout.read().decode(errors="replace"))
        time.sleep(0.05)
    return Emulator(state, proc)


@pytest.fixture(scope="session")
def emulator():
    emu = start_emulator("--users", "250", "--seed", "interop")
    # MSAL uses requests; point it at the emulator's throw-away CA.
    os.environ["REQUESTS_CA_BUNDLE"] = emu.ca
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    yield emu
    emu.proc.kill()
    emu.proc.wait(timeout=10)


def as_another_user():
    """The argv prefix that runs a command as another local user (not this test's uid), or skips the test.

    scripts/test.sh started as root creates vault-test2 and lets the test account run commands as it (sudo -n -u, and
    nothing else); run as root (VAULT_TEST_AS_ROOT=1), setpriv switches to nobody. A normal user's own run has neither:
    the test says it is skipped and why."""
    if os.geteuid() == 0:
        return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    other = os.environ.get("VAULT_TEST_SECOND_USER")
    if other:
        probe = subprocess.run(["sudo", "-n", "-u", other, "--", "/usr/bin/id", "-u"], capture_output=True, timeout=20)
        if probe.returncode == 0 and int(probe.stdout) != os.geteuid():
            return ["sudo", "-n", "-u", other, "--"]
    pytest.skip("needs a second local account: run scripts/test.sh as root (it creates vault-test2), "
                "or set VAULT_TEST_SECOND_USER to an account this one may use through 'sudo -n -u'")
