"""Benchmark: a warm `vault token APP` (whole process, key-file unlock, token from the encrypted cache) against the
MSAL-Python equivalent of the seed (a script that loads a persisted MSAL cache and calls acquire_token_for_client),
same emulator, same run; beside them, as the floor a Swift command-line tool can reach, a static Swift "hello"
(`swiftc -O -static-stdlib`) and /bin/true. Prints medians, both ratios of issue 27 (MSAL / vault >= 30x,
vault / hello <= 1.6x) and the emulator's token-request count (must not grow).

Usage: token_warm.py VAULT EMULATOR [RUNS] [HELLO]. Without HELLO, the hello is compiled here with swiftc."""
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

vault_bin, emulator_bin, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 40
here = os.path.dirname(os.path.abspath(__file__))
work = tempfile.mkdtemp(prefix="vault-bench-")
hello_bin = sys.argv[4] if len(sys.argv) > 4 else None
if hello_bin is None:
    swiftc = shutil.which("swiftc") or "/opt/swift/usr/bin/swiftc"
    with open(work + "/hello.swift", "w") as f:
        f.write('print("hello")\n')
    subprocess.run([swiftc, "-O", "-static-stdlib", work + "/hello.swift", "-o", work + "/hello"], check=True,
                   cwd=work, capture_output=True)
    hello_bin = work + "/hello"
emu = subprocess.Popen([emulator_bin, "--state-dir", work + "/emu", "--users", "10"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    while not os.path.exists(work + "/emu/emulator.json"):
        time.sleep(0.05)
    info = json.load(open(work + "/emu/emulator.json"))
    env = dict(os.environ, VAULT_DIR=work + "/vault", VAULT_KEY_FILE=work + "/key", VAULT_CA_BUNDLE=info["ca"],
               REQUESTS_CA_BUNDLE=info["ca"], NO_PROXY="127.0.0.1,localhost")

    def run(cmd, stdin=None):
        r = subprocess.run(cmd, input=stdin, env=env, capture_output=True)
        if r.returncode != 0:
            sys.exit("failed: %s\n%s" % (" ".join(cmd), r.stderr.decode()))
        return r

    run([vault_bin, "init", "--key-file", work + "/key"])
    run([vault_bin, "add-app", "demo", "--tenant", info["tenant_id"], "--client-id", info["apps"][0]["client_id"],
         "--authority", info["authority_host"], "--graph", info["authority_host"],
         "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default"], stdin=info["apps"][0]["secret"].encode())
    vault_cmd = [vault_bin, "token", "demo"]
    msal_cmd = [sys.executable, os.path.join(here, "msal_token_seed.py"), work + "/emu/emulator.json", work + "/msal-cache.json"]
    run(vault_cmd)  # warm both caches
    run(msal_cmd)

    def counters():
        import urllib.request, ssl
        ctx = ssl.create_default_context(cafile=info["ca"])
        with urllib.request.urlopen(info["admin"] + "/counters", context=ctx) as r:
            return json.load(r)["token_requests_total"]

    before = counters()
    times = {"vault": [], "msal": [], "hello": [], "true": []}
    commands = (("vault", vault_cmd), ("msal", msal_cmd), ("hello", [hello_bin]), ("true", ["/bin/true"]))
    # A fresh order each round: whatever runs right after MSAL's Python process starts with caches it evicted, so
    # a fixed order would favour whichever command comes first.
    order = random.Random(27)
    for _ in range(runs):
        for name, cmd in order.sample(commands, len(commands)):
            start = time.perf_counter()
            r = run(cmd)
            times[name].append((time.perf_counter() - start) * 1000)
            if name == "msal":
                assert r.stderr.decode().strip() == "cache", r.stderr
    after = counters()
    med = {name: statistics.median(t) for name, t in times.items()}
    p90 = {name: sorted(t)[int(runs * 0.9) - 1] for name, t in times.items()}
    v, m, h = med["vault"], med["msal"], med["hello"]
    print("warm token, whole process, %d runs each (interleaved)" % runs)
    print("  vault token (release)       median %7.2f ms   p90 %7.2f ms" % (v, p90["vault"]))
    print("  MSAL Python + cache file    median %7.2f ms   p90 %7.2f ms" % (m, p90["msal"]))
    print("  static Swift hello          median %7.2f ms   p90 %7.2f ms" % (h, p90["hello"]))
    print("  /bin/true                   median %7.2f ms   p90 %7.2f ms" % (med["true"], p90["true"]))
    print("  ratio (MSAL / vault)        %7.1fx   (target >= 30x)  %s" % (m / v, "met" if m / v >= 30 else "NOT met"))
    print("  ratio (vault / hello)       %7.2fx   (target <= 1.6x) %s" % (v / h, "met" if v / h <= 1.6 else "NOT met"))
    print("  token requests during the runs: %d (both served from cache)" % (after - before))
finally:
    emu.kill()
