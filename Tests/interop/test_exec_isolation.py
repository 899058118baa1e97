"""What a `vault exec` child can reach, run as the ordinary user the tests run as.

A child of `vault exec` runs as the same uid. With isolation (the default) it cannot reach the agent's socket, the key
file vault was started with, the vault directory or the systemd credentials directory; with --no-isolation the same
child reaches each one (so these tests fail without the protection). It inherits no descriptor of vault's own, and
neither does the detached agent. Where user namespaces are refused, vault warns once, or refuses with
--require-isolation (exit 77). The agent and every key-slot change write audit lines."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import bin_dir

VAULT = os.path.join(bin_dir(), "vault")
REACH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "identity", "reach.py")
PY = sys.executable


class Setup:
    def __init__(self, emu):
        self.emu = emu
        self.dir = tempfile.mkdtemp(prefix="vault-iso-")
        self.key = os.path.join(self.dir, "key")
        self.vault_dir = os.path.join(self.dir, "vault")
        self.run_dir = os.path.join(self.dir, "run")
        os.mkdir(self.run_dir, 0o700)
        self.creds = os.path.join(self.dir, "credentials")
        os.mkdir(self.creds, 0o700)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
        self.env.update(VAULT_DIR=self.vault_dir, VAULT_CA_BUNDLE=emu.ca, XDG_RUNTIME_DIR=self.run_dir)
        self.socket = os.path.join(self.run_dir, "vault", "agent.sock")
        self.vault("init", "--key-file", self.key)
        self.vault("add-app", "demo", "--key-file", self.key, "--tenant", emu.info["tenant_id"], "--client-id",
                   emu.app["client_id"], "--authority", emu.base, "--graph", emu.base, "--allow-custom-endpoint",
                   "--scope", "https://graph.microsoft.com/.default", stdin=emu.app["secret"])
        # A systemd-style credentials directory holding a copy of the key (read-only, as systemd makes it).
        shutil.copy(self.key, os.path.join(self.creds, "vault-key"))
        os.chmod(os.path.join(self.creds, "vault-key"), 0o400)
        with open(self.key, "rb") as f:
            self.key_bytes = f.read()
        with open(os.path.join(self.vault_dir, "vault.db"), "rb") as f:
            self.vault_id = f.read(24)[8:24]

    def vault(self, *args, stdin=None, check=True, env=None, **kw):
        r = subprocess.run([VAULT, *args], input=(stdin or "").encode(), env=env or self.env, capture_output=True,
                           timeout=120, **kw)
        if check:
            assert r.returncode == 0, r.stderr.decode()
        return r

    def reach(self, *options, env=None, prefix=(), check=True):
        """Runs reach.py under `vault exec --key-file KEY demo`, with an agent holding the key; returns (report, result)."""
        env = dict(env or self.env, CREDENTIALS_DIRECTORY=self.creds)
        argv = [*prefix, VAULT, "exec", "--key-file", self.key, *options, "demo", "--",
                PY, REACH, self.socket, self.vault_id.hex(), self.key, self.vault_dir, self.creds]
        r = subprocess.run(argv, env=env, capture_output=True, timeout=120)
        if check:
            assert r.returncode == 0, r.stderr.decode()
        return (json.loads(r.stdout) if r.returncode == 0 else None), r

    def audit(self):
        path = os.path.join(self.vault_dir, "audit.log")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f]


@pytest.fixture
def setup(emulator):
    s = Setup(emulator)
    s.vault("unlock", "--key-file", s.key, "--for", "5m")
    yield s
    s.vault("lock", check=False)


def test_isolated_child_reaches_nothing_and_no_isolation_reaches_everything(setup):
    isolated, r = setup.reach()
    assert b"warning" not in r.stderr, r.stderr.decode()
    assert isolated["uid"] == os.getuid()  # the same user, as before
    assert isolated["agent"].startswith("error"), isolated  # the socket's directory is an empty tmpfs
    assert isolated["key_file"] == ""  # /dev/null over the key file
    assert isolated["vault_dir"] == [] and isolated["credentials"] == []
    assert isolated["parent_cmdline_has_key_path"] is True  # the path is visible, what it names is not

    # The same child without isolation reaches each one: the master key from the agent, the key file's bytes, the
    # vault's files and the credentials.
    open_child, r = setup.reach("--no-isolation")
    assert len(open_child["agent"]) == 64, open_child
    assert open_child["key_file"] == setup.key_bytes.hex()
    assert "vault.db" in open_child["vault_dir"] and open_child["credentials"] == ["vault-key"]


def test_exec_child_still_gets_tokens_when_isolated(setup):
    child = ("import json,os,urllib.request\n"
             "req=urllib.request.Request(os.environ['IDENTITY_ENDPOINT']+'?api-version=2019-08-01&resource=https://graph.microsoft.com',"
             "headers={'X-IDENTITY-HEADER':os.environ['IDENTITY_HEADER']})\n"
             "print(json.loads(urllib.request.urlopen(req,timeout=20).read())['token_type'])\n")
    r = setup.vault("exec", "--key-file", setup.key, "--require-isolation", "demo", "--", PY, "-c", child)
    assert r.stdout.decode().strip() == "Bearer"


def test_child_inherits_only_what_the_user_gave(setup, tmp_path):
    given = open(tmp_path / "given", "w")
    os.set_inheritable(given.fileno(), True)
    for options in ((), ("--no-isolation",)):
        env = dict(setup.env, CREDENTIALS_DIRECTORY=setup.creds)
        r = subprocess.run([VAULT, "exec", "--key-file", setup.key, *options, "demo", "--", PY, REACH, setup.socket,
                            setup.vault_id.hex(), setup.key, setup.vault_dir, setup.creds],
                           env=env, capture_output=True, timeout=120, pass_fds=(given.fileno(),))
        assert r.returncode == 0, r.stderr.decode()
        # stdin, stdout, stderr and the descriptor the user passed: not the endpoint's socket, epoll or the vault's files.
        assert json.loads(r.stdout)["fds"] == [0, 1, 2, given.fileno()], options
    given.close()


def test_detached_agent_inherits_no_descriptor(emulator):
    s = Setup(emulator)
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, True)
    p = subprocess.Popen([VAULT, "unlock", "--key-file", s.key, "--for", "2m"], env=s.env, pass_fds=(write_end,),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert p.wait(timeout=60) == 0, p.stderr.read().decode()
    os.close(write_end)
    try:
        # Only `vault unlock` held the pipe's write end; it has exited. An agent that inherited it keeps the pipe open.
        os.set_blocking(read_end, False)
        deadline = time.time() + 10
        while True:
            try:
                assert os.read(read_end, 1) == b""  # end of file: nobody holds the write end any more
                break
            except BlockingIOError:
                assert time.time() < deadline, "the agent inherited a descriptor of `vault unlock`"
                time.sleep(0.1)
        assert os.path.exists(s.socket)
    finally:
        os.close(read_end)
        s.vault("lock", check=False)


def namespaces_refused():
    """A prefix that runs a command as this uid in a user namespace that may create no more of them (the kernel's
    own limit, user.max_user_namespaces, set to 1 in a parent namespace this test owns)."""
    uid, gid = os.getuid(), os.getgid()
    inner = "echo 1 > /proc/sys/user/max_user_namespaces && exec unshare --user --map-user=%d --map-group=%d \"$@\"" % (uid, gid)
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c", inner, "sh", "unshare", "--user", "true"],
                           capture_output=True, timeout=20)
    if probe.returncode == 0 or b"No space left" not in probe.stderr:
        pytest.skip("cannot build a namespace without user namespaces here: %s" % probe.stderr.decode().strip())
    return ["unshare", "--user", "--map-root-user", "sh", "-c", inner, "sh"]


def test_without_user_namespaces_warn_or_refuse(setup):
    prefix = namespaces_refused()
    report, r = setup.reach(prefix=prefix)
    err = r.stderr.decode()
    assert "vault: warning:" in err and "runs without isolation" in err and setup.vault_dir in err, err
    assert report["vault_dir"] != [] and "vault.db" in report["vault_dir"]  # it said what the child can reach: it can

    report, r = setup.reach("--require-isolation", prefix=prefix, check=False)
    assert r.returncode == 77 and report is None, r.stderr.decode()
    assert b"vault: error: cannot isolate" in r.stderr

    report, r = setup.reach("--no-isolation", prefix=prefix)
    assert b"warning" not in r.stderr


def test_agent_handouts_are_audited(setup):
    before = len(setup.audit())
    setup.vault("list")  # unlocks through the agent
    probe = ("import socket,struct,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n"
             "req=bytes([1])+bytes.fromhex(sys.argv[2])\ns.sendall(struct.pack('>I',len(req))+req)\nprint(len(s.recv(4096)))\n")
    p = subprocess.run([PY, "-c", probe, setup.socket, setup.vault_id.hex()], capture_output=True, timeout=20)
    assert p.stdout.strip() == b"39"  # length, status, kind, slot, key
    handouts = [e for e in setup.audit()[before:] if e["event"] == "agent.key_handout"]
    assert len(handouts) == 2, setup.audit()
    assert all(e["peer_uid"] == os.getuid() and e["command"] == "agent" for e in handouts)
    assert handouts[0]["peer_comm"] == "vault" and "peer_exe" not in handouts[0]  # vault is not dumpable: no exe link
    assert handouts[1]["peer_pid"] > 0 and os.path.realpath(handouts[1]["peer_exe"]) == os.path.realpath(PY)


def test_key_slot_changes_are_audited(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env.update(VAULT_DIR=str(tmp_path / "vault"), XDG_RUNTIME_DIR=str(tmp_path))
    for name, text in (("pw", "correct horse battery staple\n"), ("pw2", "another long passphrase here\n")):
        (tmp_path / name).write_text(text)
        os.chmod(tmp_path / name, 0o600)
    pw, pw2, key = str(tmp_path / "pw"), str(tmp_path / "pw2"), str(tmp_path / "k")

    def vault(*args, check=True):
        r = subprocess.run([VAULT, *args], env=env, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        assert not check or r.returncode == 0, r.stderr.decode()
        return r

    def events():
        with open(tmp_path / "vault" / "audit.log") as f:
            return [json.loads(l) for l in f if '"vault.key_slots"' in l]

    vault("init", "--passphrase-file", pw, "--kdf-ops", "1", "--kdf-memory", "8")
    vault("key", "add-file", "--passphrase-file", pw, key)
    assert [(e["step"], e["outcome"], e["command"]) for e in events()] == [("key-add-file", "ok", "key add-file")]
    vault("passwd", "--passphrase-file", pw, "--with-key-file", key, "--new-passphrase-file", pw2)
    vault("rekey", "--passphrase-file", pw2, "--with-key-file", key)
    slot = [l.split()[0] for l in vault("key", "list", "--key-file", key).stdout.decode().splitlines()[1:] if "yes" not in l][0]
    vault("key", "remove", "--key-file", key, slot)
    steps = [(e["step"], e["outcome"]) for e in events()]
    assert steps == [("key-add-file", "ok"), ("passwd", "ok"), ("rekey", "ok"), ("key-remove", "ok")], steps
    assert all(e["pid"] > 0 and "app" not in e for e in events())
