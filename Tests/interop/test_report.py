"""`vault report` against vault-emulator's seeded tenant (`--applications N`): the findings match the seeds exactly, one
test per finding kind in every output; the OpenMetrics output parses with prometheus_client; the emulator pages
/applications and /servicePrincipals as Graph documents it; bad input is refused and leaves the vault unchanged."""
import collections
import csv
import datetime
import hashlib
import io
import json
import os
import subprocess
import tempfile
import uuid

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import bin_dir, start_emulator

APPLICATIONS = 1005          # two pages of /applications (the reporter app comes first): paging is exercised
SECRET = "rep" + "R" * 37
KEY_ID = "0a0b0c0d-0000-4000-8000-00000000cafe"
CLIENT_ID = "33333333-3333-3333-3333-333333333333"
FINDINGS = ["expired", "expiring", "long_lived", "several_secrets", "secret_with_stronger", "mutable_subject", "managed_by_vault"]
OUTPUTS = ["table", "json", "ndjson", "csv", "openmetrics"]

# The seeding table of docs/emulator.md: case k = i % 10 → the credentials of the application and of its service
# principal, each as (credential, findings).
P, C, F = "password", "certificate", "federated"
APP_CASES = {
    0: [(P, ())],
    1: [(P, ("expired",)), (P, ())],
    2: [(P, ("expiring",))],
    3: [(P, ("long_lived",))],
    4: [(P, ("several_secrets",)), (P, ("several_secrets",)), (P, ("expired",))],
    5: [(C, ()), (C, ())],
    6: [(P, ("secret_with_stronger",)), (C, ()), (C, ())],
    7: [(P, ("secret_with_stronger",)), (F, ()), (F, ()), (F, ())],
    8: [(F, ("mutable_subject",)), (F, ())],
    9: [(P, ("several_secrets",)), (P, ("several_secrets",)), (P, ("several_secrets",)), (C, ("expired",))],
}
SP_CASES = {0: [(C, ())], 1: [(C, ("expired",))], 2: [(P, ())], 3: [(P, ("long_lived",))], 5: [(C, ()), (C, ())],
            6: [(C, ("expiring",))]}
KINDS = ["healthy", "expired", "expiring", "long-lived", "vault-leftover", "certificates", "secret-and-certificate",
         "secret-and-fic", "mutable-fic", "several-secrets"]


def expected():
    """Multiset of (object_type, display_name, credential, findings) the seeds must produce."""
    out = collections.Counter()
    for i in range(APPLICATIONS):
        k = i % 10
        name = "seed-app-%05d-%s" % (i, KINDS[k])
        for cred, f in APP_CASES[k]:
            out[("application", name, cred, f)] += 1
        for cred, f in SP_CASES.get(k, []):
            out[("service_principal", name, cred, f)] += 1
    # The reporter app: its own secret (110 days, not expiring) is the one this vault holds.
    out[("application", "reporter", P, ("managed_by_vault",))] += 1
    return out


def iso(days):
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def tenant():
    cfg = {"apps": [{"name": "reporter", "client_id": CLIENT_ID, "roles": ["Application.Read.All"],
                     "passwords": [{"secret": SECRET, "key_id": KEY_ID, "start": iso(-10), "end": iso(100)}]}],
           "applications": APPLICATIONS, "users": 10}
    path = os.path.join(tempfile.mkdtemp(prefix="vault-report-cfg-"), "emulator.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    emu = start_emulator("--config", path, "--seed", "report")
    yield emu
    emu.proc.kill()
    emu.proc.wait(timeout=10)


class Vault:
    def __init__(self, emu):
        self.emu = emu
        self.dir = tempfile.mkdtemp(prefix="vault-report-")
        self.key = os.path.join(self.dir, "key")
        self.vault_dir = os.path.join(self.dir, "vault")
        self.env = dict(os.environ, VAULT_DIR=self.vault_dir, VAULT_KEY_FILE=self.key, VAULT_CA_BUNDLE=emu.ca)
        self.bin = os.path.join(bin_dir(), "vault")
        self.run("init", "--key-file", self.key)
        self.run("add-app", "reporter", "--tenant", emu.info["tenant_id"], "--client-id", CLIENT_ID,
                 "--authority", emu.base, "--graph", emu.base, "--allow-custom-endpoint",
                 "--scope", "https://graph.microsoft.com/.default", stdin=SECRET)

    def run(self, *args, stdin=None, check=True, timeout=300):
        r = subprocess.run([self.bin, *args], input=(stdin or "").encode(), env=self.env, capture_output=True, timeout=timeout)
        if check:
            assert r.returncode == 0, r.stderr.decode()
        return r

    def fingerprint(self):
        """Every file of the vault directory but the token cache and audit log, hashed: 'the vault is unchanged'."""
        out = {}
        for root, _, files in os.walk(self.vault_dir):
            for n in files:
                p = os.path.join(root, n)
                if "tokens" in p or n.startswith("audit"):
                    continue
                with open(p, "rb") as f:
                    out[p] = hashlib.sha256(f.read()).hexdigest()
        return out


@pytest.fixture(scope="module")
def vault(tenant):
    return Vault(tenant)


def parse(output, text):
    """The report's records as (object_type, display_name, credential, findings) plus their key ids."""
    rows = []
    if output == "json":
        doc = json.loads(text)
        rows = [(r["object_type"], r["display_name"], r["credential"], tuple(r["findings"]), r["key_id"]) for r in doc["credentials"]]
    elif output == "ndjson":
        for line in text.splitlines():
            r = json.loads(line)
            rows.append((r["object_type"], r["display_name"], r["credential"], tuple(r["findings"]), r["key_id"]))
    elif output == "csv":
        reader = csv.DictReader(io.StringIO(text))
        assert reader.fieldnames == ["object_type", "app_id", "display_name", "credential", "key_id", "end", "findings"]
        for r in reader:
            rows.append((r["object_type"], r["display_name"], r["credential"], tuple(x for x in r["findings"].split(";") if x), r["key_id"]))
    elif output == "table":
        lines = text.splitlines()
        assert lines[0].split()[:3] == ["OBJECT", "DISPLAY", "NAME"]
        for line in lines[1:]:
            parts = line.split()
            obj = {"app": "application", "sp": "service_principal"}[parts[0]]
            rows.append((obj, parts[1], parts[3], tuple(parts[6].split(",")), parts[4]))
    elif output == "openmetrics":
        found = collections.defaultdict(list)
        for fam in text_string_to_metric_families(text):
            if fam.name == "vault_report_credential_finding":
                for s in fam.samples:
                    lab = s.labels
                    found[(lab["object_type"], lab["display_name"], lab["credential"], lab["key_id"])].append(lab["finding"])
        for (obj, name, cred, key), fs in found.items():
            rows.append((obj, name, cred, tuple(sorted(fs, key=FINDINGS.index)), key))
    return rows


@pytest.fixture(scope="module")
def reports(vault):
    out = {}
    for output in OUTPUTS:
        r = vault.run("report", "reporter", "--output", output, check=False)
        assert r.returncode == 2, r.stderr.decode()      # expired and expiring credentials: critical
        out[output] = r.stdout.decode()
    return out


def test_every_output_matches_the_seeds_exactly(reports):
    want = expected()
    for output in ("json", "ndjson", "csv"):
        got = collections.Counter(row[:4] for row in parse(output, reports[output]))
        assert got == want, output
    flagged = collections.Counter({k: v for k, v in want.items() if k[3]})
    for output in ("table", "openmetrics"):      # these list only the credentials with findings
        got = collections.Counter(row[:4] for row in parse(output, reports[output]))
        assert got == flagged, output


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("finding", FINDINGS)
def test_each_finding_kind_in_each_output(reports, finding, output):
    want = collections.Counter()
    for (obj, name, cred, fs), n in expected().items():
        if finding in fs:
            want[(obj, name, cred)] += n
    assert want, finding
    got = collections.Counter((o, n, c) for o, n, c, fs, _ in parse(output, reports[output]) if finding in fs)
    assert got == want


def test_vault_rotation_names_and_managed_credential(reports):
    recs = [json.loads(line) for line in reports["ndjson"].splitlines()]
    leftovers = [r for r in recs if r["display_name"].endswith("vault-leftover") and "several_secrets" in r["findings"]]
    assert leftovers and all(r["vault_rotation_name"] for r in leftovers)
    others = [r for r in recs if r["display_name"].endswith("several-secrets") and r["credential"] == "password"]
    assert others and not any(r["vault_rotation_name"] for r in others)
    mine = [r for r in recs if r["managed_by"]]
    assert [(r["display_name"], r["key_id"], r["managed_by"]) for r in mine] == [("reporter", KEY_ID, "reporter")]
    # The rotation is due when the secret enters the --within window (30 days before its end).
    end = datetime.datetime.fromisoformat(mine[0]["end"].replace("Z", "+00:00"))
    due = datetime.datetime.fromisoformat(mine[0]["rotation_due"].replace("Z", "+00:00"))
    assert end - due == datetime.timedelta(days=30)
    mutable = [r["subject"] for r in recs if "mutable_subject" in r["findings"]]
    assert mutable and all(s.startswith("repo:contoso/web-") for s in mutable)


def test_openmetrics_parses_and_sums_up(reports):
    fams = {f.name: f for f in text_string_to_metric_families(reports["openmetrics"])}
    assert reports["openmetrics"].endswith("# EOF\n")
    totals = {s.labels["finding"]: s.value for s in fams["vault_report_findings"].samples}
    want = collections.Counter()
    for (_, _, _, fs), n in expected().items():
        for f in fs:
            want[f] += n
    assert totals == {f: float(want[f]) for f in FINDINGS}
    assert fams["vault_report_severity"].samples[0].value == 2
    objects = {s.labels["object_type"]: s.value for s in fams["vault_report_objects"].samples}
    assert objects == {"application": APPLICATIONS + 1, "service_principal": APPLICATIONS + 1}
    assert all(s.value > 1e9 for s in fams["vault_report_credential_expiry_timestamp_seconds"].samples)


def test_thresholds_change_the_findings_and_the_exit_status(vault):
    # A year's window: every credential still valid within a year is "expiring"; 1000-day lifetimes are never long.
    r = vault.run("report", "reporter", "--output", "ndjson", "--within", "800d", "--max-lifetime", "1000d", check=False)
    assert r.returncode == 2
    recs = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert not any("long_lived" in x["findings"] for x in recs)
    healthy = [x for x in recs if x["display_name"].endswith("healthy") and x["object_type"] == "application"]
    assert healthy and all(x["findings"] == ["expiring"] for x in healthy)


def test_warning_only_tenant_exits_1(tmp_path):
    cfg = {"apps": [{"name": "reporter", "client_id": CLIENT_ID, "roles": ["Application.Read.All"],
                     "passwords": [{"secret": SECRET, "key_id": KEY_ID, "start": iso(-10), "end": iso(400)}]}], "users": 10}
    path = tmp_path / "emu.json"
    path.write_text(json.dumps(cfg))
    emu = start_emulator("--config", str(path))
    try:
        v = Vault(emu)
        r = v.run("report", "reporter", check=False)
        assert r.returncode == 1, r.stderr.decode()       # long_lived only: a warning
        assert "long_lived" in r.stdout.decode()
        r = v.run("report", "reporter", "--max-lifetime", "500d", check=False)
        assert r.returncode == 0, r.stderr.decode()
        assert r.stderr == b"1 applications, 1 service principals, 1 credentials: 1 managed_by_vault\n"   # info only
    finally:
        emu.proc.kill()
        emu.proc.wait(timeout=10)


@pytest.mark.parametrize("args,message", [
    (["--within", "30"], b"--within 30 is not a duration"),
    (["--within", "3x"], b"--within 3x is not a duration"),
    (["--max-lifetime", "0d"], b"--max-lifetime 0d is not a duration"),
    (["--output", "xml"], b"vault: error:"),
])
def test_bad_input_is_refused_and_the_vault_unchanged(vault, args, message):
    before = vault.fingerprint()
    r = vault.run("report", "reporter", *args, check=False)
    assert r.returncode == 64 and message in r.stderr and r.stdout == b""
    assert r.stderr.startswith(b"vault: error:")
    assert vault.fingerprint() == before


def test_unknown_app_and_missing_permission(vault, tenant):
    before = vault.fingerprint()
    r = vault.run("report", "nobody", check=False)
    assert r.returncode != 0 and b"vault: error:" in r.stderr and r.stdout == b""
    assert vault.fingerprint() == before


# The emulator's side: /applications and /servicePrincipals as Graph documents them.

def graph(tenant, path, headers=None, **params):
    tok = requests.post("%s/%s/oauth2/v2.0/token" % (tenant.base, tenant.info["tenant_id"]), verify=tenant.ca, data={
        "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET,
        "scope": "https://graph.microsoft.com/.default"}, timeout=30).json()["access_token"]
    h = {"Authorization": "Bearer " + tok, **(headers or {})}
    url = path if path.startswith("http") else tenant.base + "/v1.0" + path
    return requests.get(url, headers=h, params=params, verify=tenant.ca, timeout=60)


def test_emulator_pages_applications_with_select_top_and_nextlink(tenant):
    r = graph(tenant, "/applications", **{"$select": "id,displayName,passwordCredentials", "$top": "999"})
    assert r.status_code == 200
    body = r.json()
    assert body["@odata.context"].endswith("/$metadata#applications(id,displayName,passwordCredentials)")
    assert len(body["value"]) == 999 and set(body["value"][1]) == {"id", "displayName", "passwordCredentials"}
    assert "@odata.count" not in body
    link = body["@odata.nextLink"]
    # As Graph writes it (and the emulator's users pages): the query kept, $top folded into the skip token.
    assert "$select=id,displayName,passwordCredentials" in link and "$skiptoken=" in link
    rest = graph(tenant, link).json()
    assert len(rest["value"]) == APPLICATIONS + 1 - 999 and "@odata.nextLink" not in rest


@pytest.mark.parametrize("params,status,code", [
    ({"$top": "1000"}, 400, "Request_UnsupportedQuery"),
    ({"$top": "0"}, 400, "Request_UnsupportedQuery"),
    ({"$skip": "5"}, 400, "Request_BadRequest"),
    ({"$select": "id,secretText"}, 400, "Request_BadRequest"),
])
def test_emulator_refuses_what_graph_refuses(tenant, params, status, code):
    r = graph(tenant, "/applications", **params)
    assert r.status_code == status and r.json()["error"]["code"] == code


def test_emulator_count_needs_consistency_level(tenant):
    plain = graph(tenant, "/servicePrincipals", **{"$count": "true", "$top": "1"}).json()
    assert "@odata.count" not in plain                         # silently ignored without the header
    eventual = graph(tenant, "/servicePrincipals", {"ConsistencyLevel": "eventual"}, **{"$count": "true", "$top": "1"}).json()
    assert eventual["@odata.count"] == APPLICATIONS + 1
    assert "@odata.count" not in graph(tenant, eventual["@odata.nextLink"], {"ConsistencyLevel": "eventual"}).json()
    r = graph(tenant, "/applications/$count")
    assert r.status_code == 400 and r.json()["error"]["code"] == "Request_BadRequest"
    r = graph(tenant, "/applications/$count", {"ConsistencyLevel": "eventual"})
    assert r.status_code == 200 and r.text == str(APPLICATIONS + 1)


def test_emulator_federated_credentials_by_expand_and_per_application(tenant):
    page = graph(tenant, "/applications", **{"$select": "id,displayName", "$expand": "federatedIdentityCredentials", "$top": "20"}).json()
    fic_app = next(a for a in page["value"] if a["displayName"].endswith("mutable-fic"))
    assert len(fic_app["federatedIdentityCredentials"]) == 2
    one = graph(tenant, "/applications/%s/federatedIdentityCredentials" % fic_app["id"]).json()
    assert one["value"] == fic_app["federatedIdentityCredentials"]
    assert one["value"][0]["audiences"] == ["api://AzureADTokenExchange"]
    r = graph(tenant, "/servicePrincipals", **{"$expand": "federatedIdentityCredentials"})
    assert r.status_code == 400
    r = graph(tenant, "/applications", {"ConsistencyLevel": "eventual"}, **{"$expand": "federatedIdentityCredentials", "$count": "true"})
    assert r.status_code == 400


def test_throttling_is_honoured_as_for_run_users(vault, tenant):
    tenant.admin("POST", "/faults", {"path": "/v1.0/servicePrincipals", "mode": "429", "count": 2, "retry_after": "1"})
    try:
        start = __import__("time").time()
        r = vault.run("report", "reporter", "--output", "ndjson", check=False)
        waited = __import__("time").time() - start
    finally:
        tenant.admin("DELETE", "/faults")
    assert r.returncode == 2, r.stderr.decode()
    assert waited >= 2                                          # Retry-After: 1, twice
    got = collections.Counter(row[:4] for row in parse("ndjson", r.stdout.decode()))
    assert got == expected()
    log = tenant.admin("GET", "/log")["requests"]
    sp = [e["status"] for e in log if e["path"] == "/v1.0/servicePrincipals"][-4:]
    assert sp == [429, 429, 200, 200]                          # the first page after two 429s, then the second page
