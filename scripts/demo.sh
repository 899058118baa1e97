#!/usr/bin/env bash
# The offline demo, end to end: a local Entra ID + Graph (vault-emulator), a new vault, an app stored from stdin,
# proof that the vault file holds no plaintext, and the everyday commands. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
VAULT_SKIP_VENV=1 scripts/setup.sh
echo "== building vault and vault-emulator (debug)"
swift build --product vault 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
swift build --product vault-emulator 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
bin="$(swift build --show-bin-path)"
export PATH="$bin:$PATH"

demo="$(mktemp -d /tmp/vault-demo.XXXXXX)"
emulator_pid=""
cleanup() { [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null; rm -rf "$demo"; }
trap cleanup EXIT
export VAULT_DIR="$demo/vault"
run() { printf '\n$ %s\n' "$*"; "$@"; }
field() { python3 -c "import json,sys; d=json.load(open('$demo/emulator/emulator.json')); print(eval(sys.argv[1]))" "$1"; }

echo "== starting vault-emulator (Entra ID + Microsoft Graph on 127.0.0.1, HTTPS with a throw-away CA)"
vault-emulator --state-dir "$demo/emulator" --users 250 >"$demo/emulator.log" 2>&1 &
emulator_pid=$!
for _ in $(seq 1 200); do [ -f "$demo/emulator/emulator.json" ] && break; sleep 0.05; done
cat "$demo/emulator.log"
authority="$(field 'd["authority_host"]')"
tenant="$(field 'd["tenant_id"]')"
client_id="$(field 'd["apps"][0]["client_id"]')"
export VAULT_CA_BUNDLE="$(field 'd["ca"]')"

echo
echo "== a new vault, unlocked by a key file (the unattended set-up; interactive users run plain 'vault init')"
run vault init --key-file "$demo/vault.key"
export VAULT_KEY_FILE="$demo/vault.key"

echo
echo "== storing the emulator's demo app; the secret comes from stdin, never from an argument"
echo "   (the authority in MSAL's form https://HOST/TENANT, as the MSAL tutorial writes it; the emulator is not a"
echo "   Microsoft cloud, so it is accepted only with --allow-custom-endpoint and needs an explicit Graph scope)"
scope="https://graph.microsoft.com/.default"
printf '\n$ printf %%s "$SECRET" | vault add-app demo --client-id %s --authority %s/%s --graph %s --allow-custom-endpoint --scope %s\n' \
  "$client_id" "$authority" "$tenant" "$authority" "$scope"
field 'd["apps"][0]["secret"]' | tr -d '\n' | vault add-app demo --client-id "$client_id" \
  --authority "$authority/$tenant" --graph "$authority" --allow-custom-endpoint --scope "$scope"
run vault list
run vault show demo

echo
echo "== the vault file holds no plaintext: neither the secret nor the tenant appear in it"
# The secret reaches grep through a pipe, never its command line.
if field 'd["apps"][0]["secret"]' | grep -qF -f - "$VAULT_DIR"/* || grep -qF "$tenant" "$VAULT_DIR"/vault.db; then
  echo "FAIL: plaintext found in the vault" >&2; exit 1
fi
echo "grep for the secret and the tenant id in $VAULT_DIR: no match"
run ls -l "$VAULT_DIR"
printf '\n$ head -c 64 %s/vault.db | od -A d -t x1z | head -3\n' "$VAULT_DIR"
head -c 64 "$VAULT_DIR/vault.db" | od -A d -t x1z | head -3

echo
echo "== tokens: the first run asks Entra ID, the second is served from the encrypted cache"
short() { python3 -c 'import json,sys; d=json.load(sys.stdin); d["access_token"]=d["access_token"][:24]+"…"; print(json.dumps(d, indent=2, ensure_ascii=False))'; }
printf '\n$ vault token demo --json\n'; vault token demo --json | short
printf '\n$ vault token demo --json\n'; vault token demo --json | short
run vault cache list
printf '\n$ curl -s --cacert ca.pem %s/_emulator/counters   # token requests the emulator saw\n' "$authority"
curl -s --cacert "$VAULT_CA_BUNDLE" "$authority/_emulator/counters" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("token requests:", d["token_requests_total"])'

echo
echo "== moving an MSAL sample daemon: its parameters.json is read (secret never in argv), stored, and shredded"
python3 - "$demo/parameters.json" "$demo/emulator/emulator.json" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[2]))
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, json.dumps({"authority": d["authority_host"] + "/" + d["tenant_domain"], "client_id": d["apps"][0]["client_id"],
                         "scope": ["https://graph.microsoft.com/.default"], "secret": d["apps"][0]["secret"],
                         "endpoint": d["graph"] + "/v1.0/users"}, indent=4).encode())
os.close(fd)
PY
sed -E 's/("secret": ")[^"]{3}[^"]*/\1…/' "$demo/parameters.json"
run vault add-app sample --from-msal-config "$demo/parameters.json" --allow-custom-endpoint --shred
test ! -e "$demo/parameters.json" && echo "parameters.json is gone"
run vault show sample
printf '\n$ vault token sample --output header | curl -s --cacert ca.pem -H @- "%s/v1.0/users?\\$top=2&\\$select=displayName"\n' "$authority"
vault token sample --output header | curl -s --cacert "$VAULT_CA_BUNDLE" -H @- "$authority/v1.0/users?\$top=2&\$select=displayName"
echo

echo
echo "== Microsoft Graph with the app's identity: every page, streamed"
run vault run users demo --output table --max 8
run vault run users demo --filter "startswith(displayName,'A')" --select displayName,mail,jobTitle --output csv --max 5
printf '\n$ vault run users demo --output ndjson | wc -l\n'; vault run users demo --output ndjson | wc -l
run vault run get demo /users/\$count --header 'ConsistencyLevel: eventual'

echo
echo "== rotating the client secret through Graph: add, journal, prove, commit, remove the old one"
run vault status
run vault rotate-secret demo --expires-in 90d
run vault status
printf '\n$ curl -s --cacert ca.pem %s/_emulator/apps/%s   # the app now holds exactly one password\n' "$authority" "$client_id"
curl -s --cacert "$VAULT_CA_BUNDLE" "$authority/_emulator/apps/$client_id" | python3 -c 'import json,sys; d=json.load(sys.stdin); [print(" ", p["key_id"], p["hint"] + "…", "ends", p["end"]) for p in d["passwords"]]'
printf '\n$ vault cache list   # the old secret'"'"'s tokens were dropped; this one was fetched with the new secret\n'; vault cache list

echo
echo "== a certificate instead of a secret: the key pair made inside the vault, only the public certificate written out"
run vault add-app cert-demo --client-id "$client_id" --authority "$authority/$tenant" --graph "$authority" \
  --allow-custom-endpoint --scope "$scope" --generate-certificate --subject "CN=cert-demo" --key-size 2048 --public-out "$demo/cert-demo.cer"
printf '\n$ head -1 cert-demo.cer; grep -c PRIVATE cert-demo.cer\n'; head -1 "$demo/cert-demo.cer"; grep -c PRIVATE "$demo/cert-demo.cer" || true
printf '\n$ vault cache clear cert-demo   # the same app registration as demo: drop its cached token, so the next call asks Entra\n'
vault cache clear cert-demo
printf '\n$ vault token cert-demo   # before the upload: Entra ID does not know the certificate\n'
vault token cert-demo >/dev/null || true
printf '\n$ curl -s --cacert ca.pem -X POST %s/_emulator/apps/%s/upload-certificate -d @cert.json   # the portal'"'"'s "Upload certificate"\n' "$authority" "$client_id"
python3 -c 'import json,sys; print(json.dumps({"pem": open(sys.argv[1]).read()}))' "$demo/cert-demo.cer" |
  curl -s --cacert "$VAULT_CA_BUNDLE" -X POST -H 'Content-Type: application/json' -d @- "$authority/_emulator/apps/$client_id/upload-certificate" >/dev/null
printf '\n$ vault token cert-demo --output json\n'; vault token cert-demo --output json | short
run vault show cert-demo
run vault rotate-cert cert-demo
run vault status cert-demo

echo
echo "== tokens for a program that never sees the secret: vault exec serves it a managed-identity endpoint"
echo "   (the App Service protocol that azure-identity, MSAL and the other Azure SDKs use unchanged; here plain curl)"
child='curl -s -H "X-IDENTITY-HEADER: $IDENTITY_HEADER" "$IDENTITY_ENDPOINT?api-version=2019-08-01&resource=https://graph.microsoft.com" | cut -c1-72; echo "..."; env | grep "^VAULT_" || echo "(no VAULT_ variable in the child'"'"'s environment)"'
printf '
$ vault exec demo -- sh -c %s
' "'$child'"
vault exec demo -- sh -c "$child"
printf '
$ vault audit --since 10m --event token.handout | tail -1
'
vault audit --since 10m --event token.handout | tail -1

echo
echo "== demo finished"
