"""vault-emulator throughput on loopback: token requests per second, and the time to serve 100,000 users at
$top=999 compared with the time a client needs just to parse those pages (json.loads). Usage:
emulator_throughput.py EMULATOR_BIN [USERS] [TOKEN_REQUESTS]"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests

emulator_bin = sys.argv[1]
users = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
token_requests = int(sys.argv[3]) if len(sys.argv) > 3 else 400
state = tempfile.mkdtemp(prefix="vault-emu-bench-")
started = time.perf_counter()
proc = subprocess.Popen([emulator_bin, "--state-dir", state, "--users", str(users)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    while not os.path.exists(state + "/emulator.json"):
        time.sleep(0.05)
    print("start-up with %d users: %.2f s" % (users, time.perf_counter() - started))
    info = json.load(open(state + "/emulator.json"))
    # requests lets REQUESTS_CA_BUNDLE override verify=; point it at the emulator's CA.
    os.environ["REQUESTS_CA_BUNDLE"] = info["ca"]
    app = info["apps"][0]
    token_url = "%s/%s/oauth2/v2.0/token" % (info["authority_host"], info["tenant_id"])
    form = {"client_id": app["client_id"], "grant_type": "client_credentials", "client_secret": app["secret"],
            "scope": "https://graph.microsoft.com/.default"}

    def hammer(n, out):
        s = requests.Session()
        s.verify = info["ca"]
        for _ in range(n):
            r = s.post(token_url, data=form)
            assert r.status_code == 200
        out.append(n)

    threads, done = [], []
    t0 = time.perf_counter()
    for _ in range(4):
        t = threading.Thread(target=hammer, args=(token_requests // 4, done))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    print("token endpoint: %d requests from 4 keep-alive clients in %.2f s = %.0f req/s (client-bound lower bound)"
          % (sum(done), elapsed, sum(done) / elapsed))

    s = requests.Session()
    s.verify = info["ca"]
    token = s.post(token_url, data=form).json()["access_token"]
    headers = {"Authorization": "Bearer " + token, "Accept-Encoding": "identity"}
    def cpu_seconds():
        fields = open("/proc/%d/stat" % proc.pid).read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    fetch_times, parse_times, server_cpu = [], [], []
    for _ in range(3):
        cpu_before = cpu_seconds()
        url = info["graph"] + "/v1.0/users?$top=999"
        pages = []
        t0 = time.perf_counter()
        while url:
            r = s.get(url, headers=headers)
            body = r.content
            pages.append(body)
            m = re.search(rb'"@odata.nextLink":"([^"]+)"', body[:600])
            url = m.group(1).decode() if m else None
        fetch_times.append(time.perf_counter() - t0)
        server_cpu.append(cpu_seconds() - cpu_before)
        t0 = time.perf_counter()
        count = sum(len(json.loads(p)["value"]) for p in pages)
        parse_times.append(time.perf_counter() - t0)
        assert count == users, count
    size = sum(len(p) for p in pages)
    f, p = statistics.median(fetch_times), statistics.median(parse_times)
    print("users: %d in %d pages (%.1f MB): served+received in %.2f s (median of 3), json.loads alone %.2f s" %
          (users, len(pages), size / 1e6, f, p))
    c = statistics.median(server_cpu)
    print("  emulator CPU per full listing %.2f s (median of 3; includes TLS)" % c)
    print("  emulator CPU / json.loads alone = %.2f; wall time incl. Python's receiving / json.loads = %.2f" % (c / p, f / p))
finally:
    proc.kill()
