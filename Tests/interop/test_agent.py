"""The unlock-once agent, with real processes: unlock once, later commands never prompt; another uid is refused;
idle and lifetime limits and `vault lock` wipe the key; kill -9 leaves no key anywhere on disk; without the agent,
commands prompt again."""
import os
import signal
import socket
import struct
import subprocess
import tempfile
import time

import pexpect
import pytest

from conftest import as_another_user, bin_dir

VAULT = os.path.join(bin_dir(), "vault")


class AgentVault:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="vault-agent-")
        os.chmod(self.dir, 0o755)
        self.run_dir = os.path.join(self.dir, "run")
        os.mkdir(self.run_dir, 0o700)
        self.passfile = os.path.join(self.dir, "pass")
        with open(self.passfile, "w") as f:
            f.write("correct horse battery staple\n")
        os.chmod(self.passfile, 0o600)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
        self.env.update(VAULT_DIR=os.path.join(self.dir, "vault"), XDG_RUNTIME_DIR=self.run_dir)
        self.socket = os.path.join(self.run_dir, "vault", "agent.sock")
        self.vault("init", "--passphrase-file", self.passfile, "--kdf-ops", "1", "--kdf-memory", "8")

    def vault(self, *args, env=None, check=True, timeout=60):
        r = subprocess.run([VAULT, *args], env=env or self.env, capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout)
        if check:
            assert r.returncode == 0, r.stderr.decode()
        return r

    def unlock(self, *args):
        return self.vault("unlock", "--passphrase-file", self.passfile, *args)

    def vault_id(self):
        with open(os.path.join(self.dir, "vault", "vault.db"), "rb") as f:
            return f.read(24)[8:24]

    def agent_pid(self):
        """The pid of the agent listening at this test's socket, from SO_PEERCRED (the agent is not dumpable, so its
        /proc/PID/environ is closed to the same user), or None when none listens."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.socket)
            pid, uid, _ = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
            assert uid == os.getuid()
            return pid
        except OSError:
            return None
        finally:
            s.close()

    def wait_gone(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.agent_pid() is None and not os.path.exists(self.socket):
                return True
            time.sleep(0.1)
        return False


def get_key(path, vault_id):
    """The agent protocol's GET, as any process of the user could send it: returns the 32-byte key or None."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    req = bytes([1]) + vault_id
    s.sendall(struct.pack(">I", len(req)) + req)
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    if len(data) < 5:
        return None
    body = data[4:4 + struct.unpack(">I", data[:4])[0]]
    return body[3:] if body[0] == 0 else None


@pytest.fixture
def av():
    v = AgentVault()
    yield v
    subprocess.run([VAULT, "lock"], env=v.env, capture_output=True)
    pid = v.agent_pid()
    if pid:
        os.kill(pid, signal.SIGKILL)


def test_unlock_once_then_no_prompt_and_lock(av):
    assert av.vault("list", check=False).returncode == 64  # no agent, no terminal: a clear error, no hang
    av.unlock("--for", "10m")
    st = os.stat(av.socket)
    assert st.st_mode & 0o777 == 0o600 and os.stat(os.path.dirname(av.socket)).st_mode & 0o777 == 0o700
    for _ in range(3):
        r = av.vault("list")
        assert b"No apps stored" in r.stdout
    status = av.vault("agent", "--status").stdout.decode()
    assert av.vault_id().hex() in status and "1 key" in status
    av.vault("lock")
    assert av.wait_gone()
    assert av.vault("list", check=False).returncode == 64


def test_commands_prompt_again_once_the_agent_is_gone(av):
    av.unlock()
    pid = av.agent_pid()
    os.kill(pid, signal.SIGKILL)
    child = pexpect.spawn(VAULT, ["list"], env=av.env, timeout=20)
    child.expect("Vault passphrase: ")
    child.sendline("correct horse battery staple")
    child.expect("No apps stored")
    child.wait()


def test_idle_limit_wipes_the_key_and_the_agent_exits(av):
    av.unlock("--for", "10m", "--idle", "2s")
    assert av.vault("list").returncode == 0
    assert av.wait_gone(timeout=15)
    assert av.vault("list", check=False).returncode == 64


def test_lifetime_limit(av):
    av.unlock("--for", "2s")
    assert av.wait_gone(timeout=15)


def test_another_uid_is_refused(av):
    av.unlock()
    key = get_key(av.socket, av.vault_id())
    assert key is not None and len(key) == 32  # this user gets it
    # Layer 1: the 0700 directory keeps other users from the socket at all.
    probe = ("import socket,struct,sys\ns=socket.socket(socket.AF_UNIX)\n"
             "try:\n s.connect(sys.argv[1])\nexcept OSError as e:\n print('connect', e.errno); sys.exit(0)\n"
             "req=bytes([1])+bytes.fromhex(sys.argv[2])\n"
             "try:\n s.sendall(struct.pack('>I',len(req))+req); d=s.recv(4096)\nexcept OSError:\n d=b''\n"
             "print('answer', len(d))\n")
    nobody = as_another_user() + ["/usr/bin/python3", "-c", probe, av.socket, av.vault_id().hex()]
    out = subprocess.run(nobody, capture_output=True, timeout=20, cwd="/").stdout.decode()
    assert out.startswith("connect 13"), out  # EACCES
    # Layer 2: even through a directory and socket opened up to everyone, the agent checks the peer's uid.
    for d in (av.run_dir, os.path.dirname(av.socket)):
        os.chmod(d, 0o711)
    os.chmod(av.socket, 0o666)
    out = subprocess.run(nobody, capture_output=True, timeout=20, cwd="/").stdout.decode()
    assert out.strip() == "answer 0", out  # connection closed without a key
    for d in (av.run_dir, os.path.dirname(av.socket)):
        os.chmod(d, 0o700)
    os.chmod(av.socket, 0o600)
    assert get_key(av.socket, av.vault_id()) == key


def test_kill_9_leaves_no_key_on_disk(av):
    av.unlock()
    key = get_key(av.socket, av.vault_id())
    pid = av.agent_pid()
    with open("/proc/%d/status" % pid) as f:
        assert "VmLck" in f.read()
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)
    needles = [key, key.hex().encode()]
    for root in [av.dir, "/tmp", "/var/tmp", "/var/crash", "/var/lib/systemd/coredump"]:
        for dirpath, _, files in os.walk(root):
            for name in files:
                path = os.path.join(dirpath, name)
                try:
                    if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) > 64 << 20:
                        continue
                    if os.path.getmtime(path) < time.time() - 3600:
                        continue
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                for n in needles:
                    assert n not in data, path
    # The stale socket does not stop the next unlock.
    av.unlock()
    assert av.vault("list").returncode == 0


def test_stale_agent_key_after_rekey_is_a_clear_error(av):
    av.unlock()
    key_file = os.path.join(av.dir, "k2")
    env = dict(av.env, VAULT_PASSPHRASE_FILE=av.passfile)
    av.vault("key", "add-file", key_file, env=env)
    av.vault("rekey", "--with-key-file", key_file, env=env)
    r = av.vault("list", check=False)
    assert r.returncode == 77 and b"no longer opens this vault" in r.stderr and b"vault lock" in r.stderr
