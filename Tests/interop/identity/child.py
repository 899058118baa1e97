"""An unmodified Azure SDK program, run under `vault exec` or pointed at `vault serve`: it gets a Graph token the way
the SDK documents, lists users with requests, and reports what it can see of its own process (environment, argv)."""
import json
import os
import sys

import requests

mode = sys.argv[1]
resource = "https://graph.microsoft.com"
if mode == "azure-mi":
    from azure.identity import ManagedIdentityCredential
    token = ManagedIdentityCredential().get_token(resource + "/.default").token
elif mode == "azure-default":
    from azure.identity import DefaultAzureCredential
    token = DefaultAzureCredential().get_token(resource + "/.default").token
elif mode == "msal-mi":
    import msal
    client = msal.ManagedIdentityClient(msal.SystemAssignedManagedIdentity(), http_client=requests.Session())
    result = client.acquire_token_for_client(resource=resource)
    if "access_token" not in result:
        print(json.dumps({"error": result}))
        sys.exit(3)
    token = result["access_token"]
else:
    sys.exit("unknown mode " + mode)

graph = os.environ["GRAPH_BASE"]
r = requests.get(graph + "/v1.0/users?$top=5", headers={"Authorization": "Bearer " + token}, timeout=30)
r.raise_for_status()
with open("/proc/self/environ", "rb") as f:
    environ = f.read()
with open("/proc/self/cmdline", "rb") as f:
    cmdline = f.read()
print(json.dumps({
    "users": len(r.json()["value"]),
    "environ": environ.decode("utf-8", "replace"),
    "cmdline": cmdline.decode("utf-8", "replace"),
    "identity_endpoint": os.environ.get("IDENTITY_ENDPOINT"),
}))
