"""The federated demo, offline: an app moves from its client secret to a federated credential, with proof.

A small OIDC issuer on 127.0.0.1 (HTTPS with a throw-away CA; a discovery document and an RS256 key set, as a real
issuer serves them) stands in for Kubernetes, tbot or OpenBao; vault-emulator stands in for Entra ID and Graph, and is
told to trust that issuer's CA (`--issuer-ca`: Entra fetches an issuer's documents over public HTTPS, the emulator
over loopback). The steps are the ones docs/federated.md describes. Run through scripts/demo-federated.sh, or with
VAULT_BIN_DIR naming a directory holding `vault` and `vault-emulator`."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "interop"))
from conftest import bin_dir, start_emulator  # noqa: E402
from test_federated_apps import Issuer  # noqa: E402

VAULT = os.path.join(bin_dir(), "vault")
SUBJECT = "system:serviceaccount:reports:mailer"


def main():
    demo = tempfile.mkdtemp(prefix="vault-fed-demo-")
    issuer = Issuer(demo)
    emu = start_emulator("--issuer-ca", issuer.ca_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env.update(VAULT_DIR=os.path.join(demo, "vault"), VAULT_KEY_FILE=os.path.join(demo, "vault.key"), VAULT_CA_BUNDLE=emu.ca)

    def run(*args, stdin=None, show=True):
        if show:
            print("\n$ vault " + " ".join(args), flush=True)
        r = subprocess.run([VAULT, *args], env=env, input=(stdin or "").encode(), capture_output=True, timeout=600)
        out = r.stdout.decode() + r.stderr.decode()
        if show:
            sys.stdout.write(out)
        if r.returncode != 0:
            raise SystemExit("demo: `vault %s` failed (exit %d)" % (" ".join(args), r.returncode))
        return out

    def registration():
        app = emu.admin("GET", "/apps/" + emu.app["client_id"])
        return len(app["passwords"]), len(app.get("federated_credentials") or [])

    try:
        print("== an issuer at %s (its CA: %s), and vault-emulator trusting it" % (issuer.url, issuer.ca_path))
        run("init", "--key-file", env["VAULT_KEY_FILE"])
        print("\n== the app as it is today: a client secret (from stdin)")
        run("add-app", "mailer", "--tenant", emu.info["tenant_id"], "--client-id", emu.app["client_id"], "--authority", emu.base,
            "--graph", emu.base, "--allow-custom-endpoint", "--scope", "https://graph.microsoft.com/.default", stdin=emu.app["secret"])
        passwords, fics = registration()
        print("   the app registration: %d password(s), %d federated credential(s)" % (passwords, fics))

        print("\n== the token file another program keeps fresh (written and renamed, as the kubelet does)")
        token_file = os.path.join(demo, "token")
        with open(token_file + ".new", "w") as f:
            f.write(issuer.token(subject=SUBJECT))
        os.rename(token_file + ".new", token_file)
        print("   %s: a JWT with iss %s, sub %s, aud api://AzureADTokenExchange" % (token_file, issuer.url, SUBJECT))

        print("\n== the move: the FIC is made from the token's claims, proven with a token through it, stored; then the password goes")
        run("federate", "mailer", "--federated", "file:" + token_file, "--remove-secrets", "--lag-window", "2")
        passwords, fics = registration()
        print("   the app registration: %d password(s), %d federated credential(s)" % (passwords, fics))
        if passwords != 0 or fics != 1:
            raise SystemExit("demo: the app should hold no password and one federated credential")

        print("\n== everyday use, with no secret anywhere")
        run("show", "mailer")
        run("cache", "clear", "mailer")
        run("run", "users", "mailer", "--max", "3")
        run("status", "mailer")
        print("\n== done: the app has no password; the vault holds no secret of it, only the token file's path")
    finally:
        emu.proc.kill()
        emu.proc.wait(timeout=10)
        issuer.stop()
        shutil.rmtree(demo, ignore_errors=True)
        shutil.rmtree(emu.state_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
