"""Benchmark: `vault report APP --output ndjson` against curl fetching the same pages (the same $select, $expand and
$top, following @odata.nextLink, gzip on both sides), interleaved in one run, at 1,000 and 10,000 applications. Prints
medians, the ratio (target: vault within 1.2x of curl) and vault's peak RSS (wait4's ru_maxrss; target: flat from
1,000 to 10,000). Usage: report_bench.py VAULT_BIN EMULATOR_BIN [RUNS]"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

vault_bin, emulator_bin = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
SECRET = "rep" + "R" * 37
CLIENT = "33333333-3333-3333-3333-333333333333"
NEXT = re.compile(rb'"@odata\.nextLink":"([^"]+)"')


def run(cmd, env, out=subprocess.PIPE):
    """Wall time (ms), peak RSS (MiB), bytes of stdout and exit status of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.PIPE)
    size = 0
    if out == subprocess.PIPE:
        for chunk in iter(lambda: proc.stdout.read(1 << 20), b""):
            size += len(chunk)
    _, status, usage = os.wait4(proc.pid, 0)
    return (time.perf_counter() - start) * 1000, usage.ru_maxrss / 1024, size, os.waitstatus_to_exitcode(status)


def curl_pages(base, token, ca, env):
    """curl for every page of both collections, as vault asks for them; the next link read from each page."""
    start = time.perf_counter()
    pages = 0
    for first in ("/v1.0/applications?$select=id,appId,displayName,passwordCredentials,keyCredentials&$expand=federatedIdentityCredentials&$top=999",
                  "/v1.0/servicePrincipals?$select=id,appId,displayName,passwordCredentials,keyCredentials&$top=999"):
        url = base + first
        while url:
            body = subprocess.run(["curl", "-sS", "--fail", "--compressed", "--cacert", ca, "-H", "Authorization: Bearer " + token,
                                   "-H", "Accept: application/json", url], env=env, capture_output=True, check=True).stdout
            pages += 1
            m = NEXT.search(body)
            url = m.group(1).decode().replace("\\/", "/") if m else None
    return (time.perf_counter() - start) * 1000, pages


for apps in (1_000, 10_000):
    work = tempfile.mkdtemp(prefix="vault-report-bench-")
    cfg = os.path.join(work, "emu.json")
    with open(cfg, "w") as f:
        json.dump({"apps": [{"name": "reporter", "client_id": CLIENT, "roles": ["Application.Read.All"],
                             "passwords": [{"secret": SECRET}]}], "applications": apps, "users": 10}, f)
    emu = subprocess.Popen([emulator_bin, "--state-dir", work + "/emu", "--config", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not os.path.exists(work + "/emu/emulator.json"):
            time.sleep(0.05)
        info = json.load(open(work + "/emu/emulator.json"))
        env = dict(os.environ, VAULT_DIR=work + "/vault", VAULT_KEY_FILE=work + "/key", VAULT_CA_BUNDLE=info["ca"], NO_PROXY="127.0.0.1,localhost")
        subprocess.run([vault_bin, "init", "--key-file", work + "/key"], env=env, check=True, capture_output=True)
        subprocess.run([vault_bin, "add-app", "reporter", "--tenant", info["tenant_id"], "--client-id", CLIENT, "--authority", info["authority_host"],
                        "--graph", info["graph"], "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default"], input=SECRET.encode(), env=env, check=True, capture_output=True)
        token = subprocess.run([vault_bin, "token", "reporter"], env=env, check=True, capture_output=True).stdout.decode().strip()
        cmd = [vault_bin, "report", "reporter", "--output", "ndjson", "--quiet"]
        _, _, size, status = run(cmd, env)           # warm: token cache, emulator's pages
        assert status == 2, status
        lines = None
        v, c, rss = [], [], []
        for _ in range(runs):
            ms, peak, size, status = run(cmd, env)
            v.append(ms)
            rss.append(peak)
            ms, pages = curl_pages(info["graph"], token, info["ca"], env)
            c.append(ms)
        credentials = apps * 3 + 1
        print("%d applications + %d service principals (%d credentials), %d pages, %d runs each (interleaved):" % (apps + 1, apps + 1, credentials, pages, runs))
        print("  vault report --output ndjson  median %7.0f ms   peak RSS %6.1f MiB   (%d bytes out)" % (statistics.median(v), max(rss), size))
        print("  curl, the same pages          median %7.0f ms" % statistics.median(c))
        print("  ratio (vault / curl) %.2fx   (target <= 1.2x)" % (statistics.median(v) / statistics.median(c)))
    finally:
        emu.kill()
