"""The managed-identity endpoint of `vault exec` / `vault serve` under attack from a caller, another local user and a web
page: resource spellings, held and slow connections, socket activation on every interface, DNS rebinding, a flood of
audit lines, a leaked header, and who a Unix-socket client is. Real processes: vault, vault-emulator, raw sockets."""
import json
import os
import random
import re
import select
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest
import requests

from test_identity_endpoint import PY, Server, Vault

GRAPH = "https://graph.microsoft.com"


@pytest.fixture
def vault(emulator):
    return Vault(emulator)


def raw_request(port, target, headers, timeout=10):
    """One HTTP/1.1 request over a fresh TCP connection; (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        lines = ["GET %s HTTP/1.1" % target] + ["%s: %s" % h for h in headers] + ["Connection: close", "", ""]
        s.sendall("\r\n".join(lines).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def token_target(resource=GRAPH):
    return "/msi/token?api-version=2019-08-01&resource=" + requests.utils.quote(resource, safe="")


def variants(n):
    """`n` different spellings of Graph's resource: letters of the host in random case, 0 to 3 trailing slashes."""
    rng = random.Random(7)
    seen = set()
    while len(seen) < n:
        host = "".join(c.upper() if rng.random() < 0.5 else c for c in "graph.microsoft.com")
        scheme = rng.choice(["https", "HTTPS", "Https"])
        seen.add("%s://%s%s" % (scheme, host, "/" * rng.randrange(4)))
    return sorted(seen)


def test_resource_spellings_are_one_token_and_one_audit_resource(emulator, vault):
    spellings = variants(200)
    with Server(vault) as server:
        before = emulator.token_requests()
        for r in spellings:
            status, body = raw_request(server.port, token_target(r), [("Host", "127.0.0.1:%d" % server.port), ("X-IDENTITY-HEADER", server.header)])
            assert status == 200, (r, body)
        # One Entra request for all 200 spellings (before: one per spelling, each a new secret-memory entry).
        assert emulator.token_requests() == before + 1
    handouts = [e for e in vault.audit() if e["event"] == "token.handout"]
    assert {e["resource"] for e in handouts} == {GRAPH}
    # Memory hits within a minute are counted on one line: 199 hits are not 199 lines.
    assert sum(e.get("count", 1) for e in handouts) == 200 and len(handouts) <= 3, handouts


def test_default_allow_list_is_the_stored_scope_and_refusals_are_remembered(emulator, vault):
    with Server(vault) as server:
        h = [("Host", "127.0.0.1:%d" % server.port), ("X-IDENTITY-HEADER", server.header)]
        status, body = raw_request(server.port, token_target("https://vault.azure.net"), h)
        assert status == 403 and b"not allowed" in body, body
    with Server(vault, extra=("--allow-any-resource",)) as server:
        h = [("Host", "127.0.0.1:%d" % server.port), ("X-IDENTITY-HEADER", server.header)]
        before = emulator.token_requests()
        for _ in range(30):
            status, body = raw_request(server.port, token_target("https://unknown.example.com"), h)
            assert status == 400 and b"500011" in body, body
        # Entra's refusal is remembered for a while: 30 requests, one secret sent.
        assert emulator.token_requests() == before + 1


def test_held_and_slow_connections_do_not_stop_the_service(emulator, vault):
    server = Server(vault)
    server.proc_prefix = ["prlimit", "--nofile=128"]
    with server:
        h = [("Host", "127.0.0.1:%d" % server.port), ("X-IDENTITY-HEADER", server.header)]
        assert raw_request(server.port, token_target(), h)[0] == 200
        held = []
        for _ in range(300):
            try:
                held.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
            except OSError:
                break
        time.sleep(0.5)
        # The header holder is served although 300 connections are held against a limit of 128 descriptors.
        status, body = raw_request(server.port, token_target(), h, timeout=15)
        assert status == 200, body
        # A request sent one byte at a time is cut off after the request timeout (10 s), not held forever.
        slow = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        request = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % token_target()).encode()
        started = time.time()
        for b in request:
            try:
                slow.sendall(bytes([b]))
            except OSError:
                break
            readable, _, _ = select.select([slow], [], [], 0.5)
            if readable:
                try:
                    if slow.recv(100) == b"":
                        break
                except OSError:
                    break
        else:
            pytest.fail("a request trickled in over %.0f s was never cut off" % (time.time() - started))
        # Cut off at the 10-s request timeout; the whole request would have taken about 50 s.
        assert time.time() - started < 35
        slow.close()
        for s in held:
            s.close()
        assert server.proc.poll() is None


def test_socket_activation_on_every_interface_is_refused(vault):
    port = random.randrange(20000, 40000)
    header = os.path.join(vault.dir, "identity-header")
    with open(os.open(header, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(os.urandom(24).hex())
    p = subprocess.Popen(["systemd-socket-activate", "-l", "0.0.0.0:%d" % port, "-E", "VAULT_DIR", "-E", "VAULT_KEY_FILE",
                          vault.bin, "serve", "--app", "demo", "--identity-header-file", header],
                         env=vault.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        # systemd-socket-activate starts vault on the first connection; vault refuses the socket and exits.
        _, err = p.communicate(timeout=30)
        assert b"not on loopback" in err and b"vault: error:" in err and b"ListenStream=127.0.0.1" in err, err
    finally:
        p.kill()
        p.wait()


def test_socket_activation_on_a_unix_socket_others_can_reach_is_refused(vault):
    """systemd's SocketMode= defaults to 0666: every local user could connect. Refused, like an address off loopback."""
    path = os.path.join(vault.dir, "mi.sock")
    header = os.path.join(vault.dir, "identity-header")
    with open(os.open(header, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(os.urandom(24).hex())
    p = subprocess.Popen(["systemd-socket-activate", "-l", path, "-E", "VAULT_DIR", "-E", "VAULT_KEY_FILE",
                          vault.bin, "serve", "--app", "demo", "--identity-header-file", header],
                         env=vault.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 10
        while not os.path.exists(path) and time.time() < deadline:
            time.sleep(0.05)
        os.chmod(path, 0o666)
        with socket.socket(socket.AF_UNIX) as c:
            c.settimeout(5)
            c.connect(path)
            _, err = p.communicate(timeout=30)
        assert b"every local user" in err and b"SocketMode=0660" in err and b"vault: error:" in err, err
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("extra,status", [
    ([("Host", "attacker.example:PORT")], 403),
    ([("Host", "127.0.0.1:1")], 403),
    ([("Origin", "http://attacker.example")], 403),
    ([("Sec-Fetch-Mode", "cors")], 403),
    ([("X-Forwarded-For", "203.0.113.7")], 400),
    ([("Host", "127.0.0.1:PORT")], 200),
    ([("Host", "localhost:PORT")], 200),
])
def test_requests_a_web_page_can_make_are_refused(emulator, vault, extra, status):
    with Server(vault, extra=("--imds",)) as server:
        for path, auth in [(token_target(), ("X-IDENTITY-HEADER", server.header)),
                           ("/metadata/identity/oauth2/token?api-version=2018-02-01&resource=" + GRAPH, ("Metadata", "true"))]:
            headers = [(k, v.replace("PORT", str(server.port))) for k, v in extra]
            if not any(k == "Host" for k, _ in headers):
                headers.append(("Host", "127.0.0.1:%d" % server.port))
            got, body = raw_request(server.port, path, headers + [auth])
            assert got == status, (path, extra, body)
            if status != 200:
                assert b"access_token" not in body


def test_audit_log_growth_is_bounded(emulator, vault):
    """Past VAULT_AUDIT_MAX_BYTES the log moves to audit.log.1 (one kept): the log holds at most twice the limit, and
    `vault audit` reads both files."""
    server = Server(vault, extra=("--allow-any-resource",))
    server._env = dict(vault.env, VAULT_AUDIT_MAX_BYTES="4096")
    with server:
        h = [("Host", "127.0.0.1:%d" % server.port), ("X-IDENTITY-HEADER", server.header)]
        for i in range(100):
            # Each new resource is sent to Entra (refused there): two audit lines each, about 60 KB in all.
            raw_request(server.port, token_target("https://r%d.example.com" % i), h)
    log = os.path.join(vault.vault_dir, "audit.log")
    assert os.path.exists(log + ".1"), "the log was never rotated"
    sizes = [os.path.getsize(p) for p in (log, log + ".1")]
    assert all(s <= 4096 for s in sizes), sizes
    shown = [json.loads(x) for x in vault.run("audit").stdout.decode().splitlines()]
    assert len(shown) >= 10 and shown[-1]["resource"].startswith("https://r99.example.com")


def test_sighup_retires_a_leaked_header(emulator, vault):
    with Server(vault) as server:
        h = lambda header: [("Host", "127.0.0.1:%d" % server.port), ("X-IDENTITY-HEADER", header)]
        old = server.header
        assert raw_request(server.port, token_target(), h(old))[0] == 200
        fresh = os.urandom(24).hex()
        tmp = server.header_file + ".new"
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(fresh + "\n")
        os.rename(tmp, server.header_file)
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while raw_request(server.port, token_target(), h(old))[0] == 200 and time.time() < deadline:
            time.sleep(0.1)
        assert raw_request(server.port, token_target(), h(old))[0] == 401
        assert raw_request(server.port, token_target(), h(fresh))[0] == 200
        # A file replaced by garbage keeps the current header, with a warning.
        with open(server.header_file, "w") as f:
            f.write("short\n")
        server.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert raw_request(server.port, token_target(), h(fresh))[0] == 200


def unix_request(path, target, headers):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(20)
        s.connect(path)
        lines = ["GET %s HTTP/1.1" % target] + ["%s: %s" % h for h in headers] + ["Connection: close", "", ""]
        s.sendall("\r\n".join(lines).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ")[1])


def test_unix_socket_clients_are_audited_by_uid_and_pid(emulator, vault):
    sock = os.path.join(vault.dir, "mi.sock")
    header = os.path.join(vault.dir, "identity-header")
    secret = os.urandom(24).hex()
    with open(os.open(header, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(secret)
    p = subprocess.Popen([vault.bin, "serve", "--app", "demo", "--identity-header-file", header, "--listen", "unix:" + sock],
                         env=vault.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert b"serving" in p.stderr.readline()
        # Created 0660 by bind itself.
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660
        assert unix_request(sock, token_target(), [("Host", "localhost"), ("X-IDENTITY-HEADER", secret)]) == 200
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=20)
    lines = [e for e in vault.audit() if e["event"] == "token.handout"]
    assert lines and all(e["peer"] == "unix" for e in lines)
    assert lines[0]["peer_uid"] == os.getuid() and lines[0]["peer_pid"] == os.getpid(), lines
    assert lines[0]["peer_comm"], lines


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))


def test_thousands_of_pipelined_requests_behind_a_fetch(emulator, vault):
    """Requests pipelined behind one that needs a fetch are not answered by nesting a call per request (before: 20,000
    tiny requests behind a token fetch overflowed the event loop's stack, and `vault serve` died of SIGSEGV). Each is
    answered on a fresh stack, and the first refused one ends the connection."""
    with Server(vault) as server:
        first = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-IDENTITY-HEADER: %s\r\n\r\n" % (token_target(), server.port, server.header)).encode()
        s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        s.sendall(first + b"GET / HTTP/1.1\r\n\r\n" * 20000)
        data = b""
        try:
            while True:
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        s.close()
        time.sleep(1)
        assert server.proc.poll() is None, "vault serve died (exit %s)" % server.proc.poll()
        assert data.startswith(b"HTTP/1.1 200"), data[:200]
        # And a well-behaved client pipelining 2,000 requests gets 2,000 answers.
        one = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-IDENTITY-HEADER: %s\r\n\r\n" % (token_target(), server.port, server.header)).encode()
        s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        s.sendall(one * 2000)
        got, data, mark = 0, b"", b"HTTP/1.1 200"
        while got < 2000:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
            got += data.count(mark)
            data = data[-(len(mark) - 1):]
        s.close()
        assert got == 2000


def test_a_client_that_never_reads_cannot_grow_the_server(emulator, vault):
    """A client streaming requests without reading the answers is stopped being read from once its answers back up
    (before: every answer was queued in memory, 16 MiB of requests took the server from 26 to 282 MB)."""
    with Server(vault) as server:
        one = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-IDENTITY-HEADER: %s\r\n\r\n" % (token_target(), server.port, server.header)).encode()
        assert raw_request(server.port, token_target(), [("Host", "127.0.0.1:%d" % server.port), ("X-IDENTITY-HEADER", server.header)])[0] == 200
        before = rss_kib(server.proc.pid)
        s = socket.create_connection(("127.0.0.1", server.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        chunk, sent, started = one * 1000, 0, time.time()
        while sent < 16 << 20 and time.time() - started < 20:
            try:
                sent += s.send(chunk)
            except BlockingIOError:
                select.select([], [s], [], 0.5)
        time.sleep(1)
        grown = rss_kib(server.proc.pid) - before
        s.close()
        assert server.proc.poll() is None
        assert grown < 48 * 1024, "the server grew by %d KiB for a client that never reads (%d bytes of requests sent)" % (grown, sent)
        # Still serving others.
        assert raw_request(server.port, token_target(), [("Host", "127.0.0.1:%d" % server.port), ("X-IDENTITY-HEADER", server.header)])[0] == 200
