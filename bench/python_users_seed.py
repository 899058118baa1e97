"""The seed's way: MSAL for a token, then requests following @odata.nextLink, printing one user per line (NDJSON).
Arguments: emulator.json."""
import json
import sys

import msal
import requests

info = json.load(open(sys.argv[1]))
app = msal.ConfidentialClientApplication(
    info["apps"][0]["client_id"], client_credential=info["apps"][0]["secret"],
    authority="%s/%s" % (info["authority_host"], info["tenant_id"]), instance_discovery=False)
token = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])["access_token"]
session = requests.Session()
url = info["graph"] + "/v1.0/users?$top=999"
out = sys.stdout
while url:
    r = session.get(url, headers={"Authorization": "Bearer " + token})
    r.raise_for_status()
    page = r.json()
    for user in page["value"]:
        out.write(json.dumps(user, separators=(",", ":")))
        out.write("\n")
    url = page.get("@odata.nextLink")
