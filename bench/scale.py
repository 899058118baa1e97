"""Benchmark: a vault of 1, 1,000 and 10,000 apps, each with a cached token (issue: tokens that do not slow down as the
vault grows). For each size, in one run: warm `vault token` for one app, `vault list`, `vault add-app`, a token write
(a cache miss: fetch + write), peak RSS of the warm token, and MSAL Python reading the same exported cache.
Arguments: vault, vault-emulator, vault-scale-seed binaries, then the sizes (default 1 1000 10000)."""
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

vault_bin, emulator_bin, seed_bin = sys.argv[1:4]
sizes = [int(s) for s in sys.argv[4:]] or [1, 1000, 10000]
here = os.path.dirname(os.path.abspath(__file__))
RUNS = int(os.environ.get("SCALE_RUNS", "15"))


def timed(cmd, env, stdin=None):
    """Wall time (ms) and peak RSS (KiB) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    r = subprocess.run(cmd, input=stdin, env=env, capture_output=True)
    ms = (time.perf_counter() - start) * 1000
    if r.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(cmd), r.stderr.decode()))
    # ru_maxrss of children is the max over all children so far: measure RSS separately with /proc when it matters.
    return ms, r


def peak_rss_kib(cmd, env):
    """Peak RSS of one run, read by GNU time's %M (KiB)."""
    r = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=env, capture_output=True)
    return int(r.stderr.decode().strip().splitlines()[-1])


def med(xs):
    return statistics.median(xs)


work = tempfile.mkdtemp(prefix="vault-scale-")
emu = subprocess.Popen([emulator_bin, "--state-dir", work + "/emu", "--users", "10"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
rows = []
try:
    while not os.path.exists(work + "/emu/emulator.json"):
        time.sleep(0.05)
    info = json.load(open(work + "/emu/emulator.json"))
    for n in sizes:
        d = "%s/n%d" % (work, n)
        os.makedirs(d)
        env = dict(os.environ, VAULT_DIR=d + "/vault", VAULT_KEY_FILE=d + "/key", VAULT_CA_BUNDLE=info["ca"],
                   REQUESTS_CA_BUNDLE=info["ca"], NO_PROXY="127.0.0.1,localhost")
        timed([vault_bin, "init", "--key-file", d + "/key"], env)
        timed([vault_bin, "add-app", "demo", "--tenant", info["tenant_id"], "--client-id", info["apps"][0]["client_id"],
               "--authority", info["authority_host"], "--graph", info["authority_host"], "--allow-custom-endpoint",
               "--scope", "https://graph.microsoft.com/.default"], env, stdin=info["apps"][0]["secret"].encode())
        timed([vault_bin, "token", "demo"], env)
        if n > 1:
            timed([seed_bin, d + "/vault", d + "/key", str(n - 1)], env)
        token = [vault_bin, "token", "demo"]
        timed(token, env)
        warm = [timed(token, env)[0] for _ in range(RUNS)]
        rss = peak_rss_kib(token, env)
        listing = [timed([vault_bin, "list"], env)[0] for _ in range(5)]
        status = [timed([vault_bin, "status", "--offline"], env)[0] for _ in range(3)]
        adds = [timed([vault_bin, "add-app", "extra-%d" % i, "--tenant", info["tenant_id"], "--client-id", info["apps"][0]["client_id"],
                       "--authority", info["authority_host"], "--graph", info["authority_host"], "--allow-custom-endpoint",
                       "--scope", "https://graph.microsoft.com/.default"], env, stdin=info["apps"][0]["secret"].encode())[0]
                for i in range(5)]
        writes = []
        for _ in range(5):
            timed([vault_bin, "cache", "clear", "demo"], env)
            writes.append(timed(token, env)[0])
        cache_json = d + "/msal-cache.json"
        if os.path.exists(cache_json):
            os.remove(cache_json)
        timed([vault_bin, "cache", "export", "--format", "msal", cache_json], env)
        msal_cmd = [sys.executable, os.path.join(here, "msal_token_seed.py"), work + "/emu/emulator.json", cache_json]
        msal = []
        for _ in range(max(5, RUNS // 3)):
            ms, r = timed(msal_cmd, env)
            assert r.stderr.decode().strip() == "cache", r.stderr
            msal.append(ms)
        tokens_dir = d + "/vault/tokens"
        cache_files = [os.path.join(tokens_dir, f) for f in os.listdir(tokens_dir)] if os.path.isdir(tokens_dir) else []
        legacy = d + "/vault/tokens.db"
        total_cache = sum(os.path.getsize(f) for f in cache_files) + (os.path.getsize(legacy) if os.path.exists(legacy) else 0)
        # What one token write rewrites: the largest single cache file (version 2: one app's; version 1: all of them).
        largest = max([os.path.getsize(f) for f in cache_files] + [os.path.getsize(legacy) if os.path.exists(legacy) else 0])
        sizes_kb = (os.path.getsize(d + "/vault/vault.db") // 1024, total_cache // 1024, largest / 1024)
        rows.append((n, med(warm), rss, med(listing), med(status), med(adds), med(writes), med(msal), sizes_kb))
    base = rows[0][1]
    print("vault at scale, whole processes, key-file unlock, release build (medians; warm token over %d runs)" % RUNS)
    print("%7s %10s %8s %9s %9s %10s %11s %10s %7s %8s %s" % ("apps", "token ms", "vs 1 app", "RSS MiB", "list ms", "status ms", "add-app ms",
                                                      "write ms", "MSAL ms", "MSAL/v", "vault.db / caches KiB / one write KiB"))
    for n, w, rss, l, st, a, wr, m, kb in rows:
        print("%7d %10.2f %7.2fx %9.1f %9.1f %10.1f %11.1f %10.1f %7.1f %7.1fx %s" % (n, w, w / base, rss / 1024, l, st, a, wr, m, m / w, "%d / %d / %.1f" % kb))
    print("targets at 10,000: token within 1.5x of 1 app and >= 20x faster than MSAL; RSS < 32 MiB; list < 200 ms; add-app < 50 ms;")
    print("a token write touching a bounded amount of data (one write KiB: the one cache file it rewrites). status: --offline.")
finally:
    emu.terminate()
