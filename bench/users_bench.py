"""Benchmark: `vault run users APP --output ndjson --top 999` against the seed-style Python script (MSAL + requests
following nextLink), same emulator, same run, at 10,000 and 100,000 users. Prints medians, the ratio, and the peak
RSS of both (from wait4's ru_maxrss). Usage: users_bench.py VAULT_BIN EMULATOR_BIN [RUNS]"""
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

vault_bin, emulator_bin = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
here = os.path.dirname(os.path.abspath(__file__))


def measure(cmd, env):
    """Wall time (ms), peak RSS (MiB) and line count of one run, stdout counted as it streams."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = 0
    for chunk in iter(lambda: proc.stdout.read(1 << 20), b""):
        lines += chunk.count(b"\n")
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = (time.perf_counter() - start) * 1000
    if status != 0:
        sys.exit("failed: %s\n%s" % (" ".join(cmd), proc.stderr.read().decode()))
    return elapsed, usage.ru_maxrss / 1024, lines


for users in (10_000, 100_000):
    work = tempfile.mkdtemp(prefix="vault-users-bench-")
    emu = subprocess.Popen([emulator_bin, "--state-dir", work + "/emu", "--users", str(users)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not os.path.exists(work + "/emu/emulator.json"):
            time.sleep(0.05)
        info = json.load(open(work + "/emu/emulator.json"))
        env = dict(os.environ, VAULT_DIR=work + "/vault", VAULT_KEY_FILE=work + "/key", VAULT_CA_BUNDLE=info["ca"],
                   REQUESTS_CA_BUNDLE=info["ca"], NO_PROXY="127.0.0.1,localhost")
        subprocess.run([vault_bin, "init", "--key-file", work + "/key"], env=env, check=True, capture_output=True)
        subprocess.run([vault_bin, "add-app", "demo", "--tenant", info["tenant_id"], "--client-id", info["apps"][0]["client_id"],
                        "--authority", info["authority_host"], "--graph", info["graph"],
                        "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default"],
                       input=info["apps"][0]["secret"].encode(), env=env, check=True, capture_output=True)
        vault_cmd = [vault_bin, "run", "users", "demo", "--output", "ndjson", "--top", "999"]
        python_cmd = [sys.executable, os.path.join(here, "python_users_seed.py"), work + "/emu/emulator.json"]
        measure(vault_cmd, env)  # warm the token cache and the emulator
        results = {"vault": [], "python": []}
        for _ in range(runs):
            for name, cmd in (("vault", vault_cmd), ("python", python_cmd)):
                ms, rss, lines = measure(cmd, env)
                assert lines == users, (name, lines)
                results[name].append((ms, rss))
        v = statistics.median(r[0] for r in results["vault"])
        p = statistics.median(r[0] for r in results["python"])
        print("%d users, %d runs each (interleaved), NDJSON to a pipe:" % (users, runs))
        print("  vault run users      median %8.0f ms   peak RSS %6.1f MiB" % (v, max(r[1] for r in results["vault"])))
        print("  Python MSAL+requests median %8.0f ms   peak RSS %6.1f MiB" % (p, max(r[1] for r in results["python"])))
        print("  ratio (Python / vault) %.1fx   (target >= 3x)" % (p / v))
    finally:
        emu.kill()
