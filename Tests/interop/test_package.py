"""The Debian package, the tarball and the source install, used from where they put vault (not from .build).

Runs when scripts/test.sh has built the package (VAULT_PACKAGE_DEB names it; VAULT_TEST_PACKAGE=0 skips the build)."""
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile

import pytest

DEB = os.environ.get("VAULT_PACKAGE_DEB")
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
pytestmark = pytest.mark.skipif(not DEB, reason="no package built (VAULT_TEST_PACKAGE=0)")


def sh(*args, **kw):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=kw.pop("timeout", 120), **kw)
    assert r.returncode == 0, "%s: exit %d\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr)
    return r.stdout


@pytest.fixture(scope="module")
def installed():
    # Installed by root (scripts/test.sh, when started as root): the files are root's, the flows run as this user.
    given = os.environ.get("VAULT_PACKAGE_ROOT")
    if given:
        st = os.stat(os.path.join(given, "usr/bin/vault"))
        assert st.st_uid == 0 and st.st_mode & 0o022 == 0, "the installed binary is not root's"
        yield given
        return
    root = tempfile.mkdtemp(prefix="vault-deb-root-")
    sh("dpkg-deb", "-x", DEB, root)
    yield root
    shutil.rmtree(root)


def expected_revision():
    rev = sh("git", "-C", ROOT, "rev-parse", "--short=12", "HEAD").strip()
    dirty = subprocess.run(["git", "-C", ROOT, "diff", "--quiet", "HEAD", "--"]).returncode != 0
    return rev + ("-dirty" if dirty else "")


def test_version_matches_package_and_revision(installed):
    printed = sh(os.path.join(installed, "usr/bin/vault"), "--version").strip()
    version = sh("dpkg-deb", "-f", DEB, "Version").strip()
    assert printed == "vault %s (git %s)" % (version, expected_revision())
    assert os.path.basename(DEB) == "vault_%s_%s.deb" % (version, sh("dpkg", "--print-architecture").strip())


def test_metadata_names_the_runtime_libraries(installed):
    depends = sh("dpkg-deb", "-f", DEB, "Depends")
    names = {re.sub(r"\s*\(.*\)", "", d).strip() for d in depends.split(",")}
    assert {"libsodium23", "libcurl4", "libssl3", "libc6"} <= names, depends
    # Debian's own checks: file modes, ownership, md5sums covering every file.
    listing = sh("dpkg-deb", "-c", DEB)
    for line in listing.splitlines():
        assert " root/root " in line, line
    files = {l.split()[-1].lstrip(".") for l in listing.splitlines() if not l.startswith("d")}
    sums = sh("dpkg-deb", "-I", DEB, "md5sums")
    assert {"/" + l.split()[1] for l in sums.splitlines()} == files


def test_binary_needs_no_swift_runtime(installed):
    out = sh("ldd", os.path.join(installed, "usr/bin/vault"))
    assert "libsodium.so.23" in out
    assert "libswift" not in out and "libFoundation" not in out and "not found" not in out, out


def test_binary_has_no_runpath(installed):
    # SwiftPM links with RUNPATH $ORIGIN by default: libcurl, libcrypto and libsodium would then be looked up in the
    # binary's own directory first. The package is built with --disable-local-rpath.
    dynamic = sh("readelf", "-d", os.path.join(installed, "usr/bin/vault"))
    assert "RUNPATH" not in dynamic and "RPATH" not in dynamic, dynamic


def test_every_command_has_a_man_page_that_renders(installed):
    mandir = os.path.join(installed, "usr/share/man/man1")
    pages = sorted(os.listdir(mandir))
    dump = json.loads(sh(os.path.join(installed, "usr/bin/vault"), "--experimental-dump-help"))

    def commands(cmd, path):
        yield path
        for sub in cmd.get("subcommands", []):
            yield from commands(sub, path + [sub["commandName"]])

    typed = {"-".join(p) + ".1.gz": " ".join(p) for p in commands(dump["command"], ["vault"])}
    assert set(typed) == set(pages), "pages differ from the commands: %s" % (set(typed) ^ set(pages))
    for page in pages:
        r = subprocess.run(["man", "--warnings", "-l", os.path.join(mandir, page)], capture_output=True, text=True,
                           env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0"), timeout=60)
        assert r.returncode == 0 and r.stderr == "", "%s: %s" % (page, r.stderr)
        text = re.sub(".\b", "", r.stdout)  # man's overstrike bold and underline, as `col -b` removes it
        name = page[:-len(".1.gz")]
        assert re.search(r"^NAME\n\s+%s \S+ \S" % re.escape(name), text, re.M), page
        assert re.search(r"^SYNOPSIS\n\s+%s( |$)" % re.escape(typed[page]), text, re.M), page
    # apropos/whatis can read every NAME line.
    for page in pages:
        assert " - " in sh("lexgrog", os.path.join(mandir, page)), page


def test_completions_are_installed_and_work(installed):
    bash = os.path.join(installed, "usr/share/bash-completion/completions/vault")
    sh("bash", "-n", bash)
    # Load it as bash-completion would and ask for the completions of "vault ro" and "vault run u".
    script = 'source "$1"; COMP_WORDS=(vault %s); COMP_CWORD=%d; _vault; printf "%%s\\n" "${COMPREPLY[@]}"'
    assert "rotate-secret" in sh("bash", "-c", script % ("ro", 1), "_", bash).split()
    assert set(sh("bash", "-c", script % ("run u", 2), "_", bash).split()) >= {"user", "users"}
    assert os.path.getsize(os.path.join(installed, "usr/share/zsh/vendor-completions/_vault")) > 0
    fish = open(os.path.join(installed, "usr/share/fish/vendor_completions.d/vault.fish")).read()
    assert "complete -c 'vault' -n" in fish and "rotate-secret" in fish


def test_docs_are_installed(installed):
    doc = os.path.join(installed, "usr/share/doc/vault")
    assert {"README.md", "SECURITY.md", "FORMAT.md", "copyright", "changelog.gz"} <= set(os.listdir(doc))
    assert "License: MIT" in open(os.path.join(doc, "copyright")).read()


def test_installed_vault_gets_a_token_from_the_emulator(installed, emulator):
    work = tempfile.mkdtemp(prefix="vault-deb-use-")
    env = dict(os.environ, VAULT_DIR=os.path.join(work, "vault"), VAULT_KEY_FILE=os.path.join(work, "key"),
               VAULT_CA_BUNDLE=emulator.ca, PATH=os.path.join(installed, "usr/bin") + ":/usr/bin:/bin")

    def vault(*args, stdin=""):
        r = subprocess.run(["vault", *args], input=stdin, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout

    assert shutil.which("vault", path=env["PATH"]) == os.path.join(installed, "usr/bin/vault")
    vault("init", "--key-file", env["VAULT_KEY_FILE"])
    vault("add-app", "pkg", "--authority", "%s/%s" % (emulator.base, emulator.info["tenant_id"]),
          "--client-id", emulator.app["client_id"], "--graph", emulator.base, "--allow-custom-endpoint",
          "--scope", "https://graph.microsoft.com/.default", stdin=emulator.app["secret"])
    before = emulator.token_requests()
    first = json.loads(vault("token", "pkg", "--output", "json"))
    second = json.loads(vault("token", "pkg", "--output", "json"))
    assert first["token_source"] == "identity_provider" and second["token_source"] == "cache"
    assert first["access_token"] == second["access_token"] and first["access_token"].count(".") == 2
    assert emulator.token_requests() == before + 1
    users = vault("run", "users", "pkg", "--max", "3", "--output", "ndjson").splitlines()
    assert len(users) == 3 and all("id" in json.loads(u) for u in users)
    shutil.rmtree(work)


def test_tarball_holds_the_same_binary(installed):
    version = sh("dpkg-deb", "-f", DEB, "Version").strip()
    tarball = os.path.join(os.path.dirname(DEB), "vault-%s-linux-%s.tar.gz" % (version, sh("dpkg", "--print-architecture").strip()))
    with tarfile.open(tarball) as t:
        names = set(t.getnames())
        assert "vault-%s/bin/vault" % version in names
        assert "vault-%s/share/man/man1/vault.1.gz" % version in names
        data = t.extractfile("vault-%s/bin/vault" % version).read()
        assert all(m.uid == 0 and m.gid == 0 for m in t.getmembers())
    assert data == open(os.path.join(installed, "usr/bin/vault"), "rb").read()


def test_source_install_and_uninstall():
    dest = tempfile.mkdtemp(prefix="vault-src-install-")
    prefix = "/opt/vault-test"
    env = dict(os.environ, DESTDIR=dest)
    sh(os.path.join(ROOT, "scripts/install.sh"), prefix, env=env, timeout=1200)
    root = dest + prefix
    assert sh(os.path.join(root, "bin/vault"), "--version").startswith("vault ")
    assert os.path.exists(os.path.join(root, "share/zsh/site-functions/_vault"))  # not Debian's vendor directory
    assert os.path.exists(os.path.join(root, "share/man/man1/vault-add-app.1.gz"))
    listed = open(os.path.join(root, "share/doc/vault/installed-files")).read().split()
    assert "bin/vault" in listed
    # Something of the user's in the prefix is kept by the uninstall.
    os.makedirs(os.path.join(root, "bin"), exist_ok=True)
    open(os.path.join(root, "bin", "mine"), "w").close()
    out = sh(os.path.join(ROOT, "scripts/install.sh"), "--uninstall", prefix, env=env)
    assert "removed %d files" % len(listed) in out
    left = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
    assert left == ["bin/mine"]
    r = subprocess.run([os.path.join(ROOT, "scripts/install.sh"), "--uninstall", prefix], env=env, capture_output=True, text=True)
    assert r.returncode == 66 and "no vault install" in r.stderr
    shutil.rmtree(dest)
