"""Benchmark: a warm `vault token APP` (whole process, key-file unlock, token from the encrypted cache) against the
MSAL-Python equivalent of the seed (a script that loads a persisted MSAL cache and calls acquire_token_for_client),
same emulator, same run. Prints medians, the ratio and the emulator's token-request count (must not grow)."""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

vault_bin, emulator_bin, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 40
here = os.path.dirname(os.path.abspath(__file__))
work = tempfile.mkdtemp(prefix="vault-bench-")
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
    times = {"vault": [], "msal": []}
    for _ in range(runs):
        for name, cmd in (("vault", vault_cmd), ("msal", msal_cmd)):
            start = time.perf_counter()
            r = run(cmd)
            times[name].append((time.perf_counter() - start) * 1000)
            if name == "msal":
                assert r.stderr.decode().strip() == "cache", r.stderr
    after = counters()
    v, m = statistics.median(times["vault"]), statistics.median(times["msal"])
    print("warm token, whole process, %d runs each (interleaved)" % runs)
    print("  vault token (release)       median %7.2f ms   p90 %7.2f ms" % (v, sorted(times["vault"])[int(runs * 0.9) - 1]))
    print("  MSAL Python + cache file    median %7.2f ms   p90 %7.2f ms" % (m, sorted(times["msal"])[int(runs * 0.9) - 1]))
    print("  ratio (MSAL / vault)        %7.1fx   (target >= 20x; vault median target <= 15 ms)" % (m / v))
    print("  token requests during the runs: %d (both served from cache)" % (after - before))
finally:
    emu.kill()
