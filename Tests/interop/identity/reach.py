"""A `vault exec` child that tries to reach the vault: prints one JSON report of what it got.

argv: agent-socket vault-id-hex key-file vault-dir credentials-dir"""
import json
import os
import socket
import struct
import sys

sock, vault_id, key_file, vault_dir, creds = sys.argv[1:6]
report = {}

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.settimeout(5)
    s.connect(sock)
    req = bytes([1]) + bytes.fromhex(vault_id)
    s.sendall(struct.pack(">I", len(req)) + req)
    data = s.recv(4096)
    # u32 length, status 0, slot kind, slot index, then the 32-byte master key.
    report["agent"] = data[7:].hex() if len(data) == 39 and data[4] == 0 else "answer without a key"
except OSError as e:
    report["agent"] = "error: %s" % e.strerror
finally:
    s.close()

for name, path in (("key_file", key_file),):
    try:
        with open(path, "rb") as f:
            report[name] = f.read().hex()
    except OSError as e:
        report[name] = "error: %s" % e.strerror

for name, path in (("vault_dir", vault_dir), ("credentials", creds)):
    try:
        report[name] = sorted(os.listdir(path))
    except OSError as e:
        report[name] = "error: %s" % e.strerror

# The key file's path as the parent's command line shows it (world-readable), and what the child can do with it.
try:
    with open("/proc/%d/cmdline" % os.getppid(), "rb") as f:
        report["parent_cmdline_has_key_path"] = key_file.encode() in f.read()
except OSError as e:
    report["parent_cmdline_has_key_path"] = "error: %s" % e.strerror

def still_open(fd):
    try:
        os.fstat(int(fd))
        return True
    except OSError:  # the descriptor listdir itself used, closed by now
        return False


report["fds"] = sorted(int(fd) for fd in os.listdir("/proc/self/fd") if still_open(fd))
report["uid"] = os.getuid()
print(json.dumps(report))
