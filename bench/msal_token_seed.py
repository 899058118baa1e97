"""The seed's way, done with MSAL's own persistence: load a cache file from disk, acquire_token_for_client, print the
token. Run as a whole process, like `vault token APP`. Arguments: emulator.json, cache file."""
import json
import os
import sys

import msal

info = json.load(open(sys.argv[1]))
cache_path = sys.argv[2]
cache = msal.SerializableTokenCache()
if os.path.exists(cache_path):
    cache.deserialize(open(cache_path).read())
app = msal.ConfidentialClientApplication(
    info["apps"][0]["client_id"], client_credential=info["apps"][0]["secret"],
    authority="%s/%s" % (info["authority_host"], info["tenant_id"]), instance_discovery=False, token_cache=cache)
result = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
if cache.has_state_changed:
    with open(cache_path, "w") as f:
        f.write(cache.serialize())
print(result["access_token"])
print(result.get("token_source"), file=sys.stderr)
