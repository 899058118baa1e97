"""Raw requests against the managed-identity endpoint the environment names; prints one JSON result per case."""
import concurrent.futures
import json
import os
import sys
import urllib.parse

import requests

endpoint = os.environ["IDENTITY_ENDPOINT"]
header = os.environ["IDENTITY_HEADER"]
graph = "https://graph.microsoft.com"


def get(resource=graph, headers=None, version="2019-08-01", extra=None, url=None):
    params = {"api-version": version, "resource": resource}
    params.update(extra or {})
    r = requests.get(url or endpoint, params=params, headers=headers if headers is not None else {"X-IDENTITY-HEADER": header},
                     timeout=10)
    try:
        body = r.json()
    except ValueError:
        body = r.text
    return {"status": r.status_code, "body": body}


cases = sys.argv[1:]
out = {}
for case in cases:
    if case == "ok":
        out[case] = get()
    elif case == "missing-header":
        out[case] = get(headers={"Metadata": "true"})
    elif case == "wrong-header":
        out[case] = get(headers={"X-IDENTITY-HEADER": "0" * len(header), "Metadata": "true"})
    elif case == "header-name-lowercase":
        out[case] = get(headers={"x-identity-header": header})
    elif case == "header-value-uppercase":
        out[case] = get(headers={"X-IDENTITY-HEADER": header.upper()})
    elif case == "no-headers":
        out[case] = get(headers={})
    elif case == "other-resource":
        out[case] = get(resource="https://vault.azure.net")
    elif case == "bad-version":
        out[case] = get(version="2017-09-01")
    elif case == "object-id":
        out[case] = get(extra={"object_id": "00000000-0000-0000-0000-000000000000"})
    elif case == "unknown-client-id":
        out[case] = get(extra={"client_id": "00000000-0000-0000-0000-000000000000"})
    elif case == "imds":
        base = os.environ["AZURE_POD_IDENTITY_AUTHORITY_HOST"]
        out[case] = get(headers={"Metadata": "true"}, version="2018-02-01", url=base + "/metadata/identity/oauth2/token")
    elif case == "imds-no-metadata":
        base = os.environ["AZURE_POD_IDENTITY_AUTHORITY_HOST"]
        out[case] = get(headers={}, version="2018-02-01", url=base + "/metadata/identity/oauth2/token")
    elif case == "concurrent":
        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(lambda _: get(), range(50)))
        out[case] = {"statuses": sorted({r["status"] for r in results}),
                     "tokens": len({r["body"].get("access_token") for r in results if isinstance(r["body"], dict)})}
    else:
        sys.exit("unknown case " + case)
print(json.dumps(out))
