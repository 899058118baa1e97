"""An independent reader of vault's files, written from docs/FORMAT.md and libsodium alone (through ctypes, no vault
code): it must read every test vector as labelled, a live version-2 vault with its per-app token caches, and a
version-1 vault after vault migrated it."""
import ctypes
import ctypes.util
import json
import os
import shutil
import struct
import subprocess
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "VaultStoreTests", "Vectors")

sodium = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
assert sodium.sodium_init() >= 0
sodium.crypto_kdf_derive_from_key.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64, ctypes.c_char_p, ctypes.c_char_p]
sodium.crypto_generichash.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_ulonglong, ctypes.c_char_p, ctypes.c_size_t]
sodium.crypto_aead_xchacha20poly1305_ietf_decrypt.argtypes = [
    ctypes.c_char_p, ctypes.POINTER(ctypes.c_ulonglong), ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ulonglong,
    ctypes.c_char_p, ctypes.c_ulonglong, ctypes.c_char_p, ctypes.c_char_p]
sodium.crypto_pwhash.argtypes = [ctypes.c_char_p, ctypes.c_ulonglong, ctypes.c_char_p, ctypes.c_ulonglong, ctypes.c_char_p,
                                 ctypes.c_ulonglong, ctypes.c_size_t, ctypes.c_int]


class Refused(Exception):
    """A refusal, with the error code docs/FORMAT.md names for it."""

    def __init__(self, code, why=""):
        super().__init__("%s: %s" % (code, why))
        self.code = code


def subkey(master, sub_id):
    out = ctypes.create_string_buffer(32)
    assert sodium.crypto_kdf_derive_from_key(out, 32, sub_id, b"vaultkey", master) == 0
    return out.raw


def blake2b(message, length, key=None):
    out = ctypes.create_string_buffer(length)
    assert sodium.crypto_generichash(out, length, message, len(message), key, len(key) if key else 0) == 0
    return out.raw


def open_aead(sealed, ad, nonce, key):
    if len(sealed) < 16:
        raise Refused("format.damaged", "sealed bytes shorter than a tag")
    out = ctypes.create_string_buffer(len(sealed) - 16 or 1)
    n = ctypes.c_ulonglong(0)
    if sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(out, ctypes.byref(n), None, sealed, len(sealed), ad, len(ad), nonce, key) != 0:
        raise Refused("format.damaged", "authentication failed")
    return out.raw[:n.value]


class Reader:
    """Little-endian fields; running past the end is `short` (format.truncated in the file, format.record inside an
    authenticated plaintext)."""

    def __init__(self, data, short="format.truncated"):
        self.data, self.at, self.short = data, 0, short

    def take(self, n):
        if self.at + n > len(self.data):
            raise Refused(self.short, "a field runs past the end")
        b = self.data[self.at:self.at + n]
        self.at += n
        return b

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("<H", self.take(2))[0]

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def rest(self):
        return len(self.data) - self.at


def text(b):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("format.utf8", "not UTF-8: %r" % b)


def read_tail(r, kind, name):
    """§4.1/§4.2: metadata, then the secrets (unique names)."""
    meta = r.take(r.u32())
    secrets = {}
    for _ in range(r.u8()):
        key = text(r.take(r.u8()))
        if key in secrets:
            raise Refused("format.duplicate", "secret %s twice" % key)
        secrets[key] = r.take(r.u32())
    return {"kind": kind, "name": name, "metadata": json.loads(meta.decode()) if kind == "app" else meta, "secrets": secrets}


def no_duplicates(records):
    seen = set()
    for kind, name in records:
        if (kind, name) in seen:
            raise Refused("format.duplicate", "two records %s/%s" % (kind, name))
        seen.add((kind, name))


def read_vault(data, passphrase=None, key_file=None):
    """FORMAT.md §2–§4, in the order §2 and §4.2 state: the records of a vault.db, opened with a passphrase or a key
    file's 32 bytes; refusals raise `Refused` with their code."""
    if not data:
        raise Refused("format.empty")
    if len(data) > 64 << 20:
        raise Refused("format.too_large")
    if data[:8] not in (b"VAULT/1\n", b"VAULT/2\n"):
        if len(data) < 8 and b"VAULT/2\n".startswith(data):
            raise Refused("format.truncated", "inside the magic")
        raise Refused("format.version" if data.startswith(b"VAULT/") else "format.magic")
    version = data[6] - ord("0")
    r = Reader(data)
    r.take(8)
    vault_id = r.take(16)
    count = r.u8()
    if not 1 <= count <= 8:
        raise Refused("format.header", "slot count")
    slots = []
    for _ in range(count):
        start = r.at
        kind = r.u8()
        slot_id = r.take(8)
        kdf = None
        if kind == 1:
            if r.u8() != 2:
                raise Refused("format.header", "kdf")
            kdf = (r.u64(), r.u64(), r.take(16))
        elif kind != 2:
            raise Refused("format.header", "slot kind")
        descriptor = data[start:r.at]
        slots.append((kind, slot_id, kdf, descriptor, r.take(24), r.take(48)))
    header = data[:r.at]
    nonce = r.take(24)
    length = r.u32()
    if not 16 <= length <= 16 << 20:
        raise Refused("format.length", "index or body length %d" % length)
    sealed = r.take(length)
    if version == 1 and r.rest():
        raise Refused("format.trailing", "bytes after the body")
    # §3.1: every KDF parameter is capped before any key derivation.
    work = 0
    for kind, _, kdf, _, _, _ in slots:
        if kind == 1:
            ops, mem, _ = kdf
            if not (1 <= ops <= 16 and 8 << 10 <= mem <= 1 << 30):
                raise Refused("format.kdf_params")
            work += ops * mem
    if work > 16 << 30:
        raise Refused("format.kdf_params")
    master = None
    for kind, slot_id, kdf, descriptor, wnonce, wrapped in slots:
        kek = None
        if kind == 1 and passphrase is not None:
            ops, mem, salt = kdf
            out = ctypes.create_string_buffer(32)
            pw = passphrase.encode()
            assert sodium.crypto_pwhash(out, 32, pw, len(pw), salt, ops, mem, 2) == 0
            kek = out.raw
        elif kind == 2 and key_file is not None:
            kek = blake2b(b"vault key-file slot v1" + vault_id + slot_id, 32, key=key_file)
        if kek is not None:
            try:
                master = open_aead(wrapped, b"VAULT/1\n" + vault_id + descriptor, wnonce, kek)
                break
            except Refused:
                pass
    if master is None:
        raise Refused("unlock.failed", "no slot opens")
    plain = open_aead(sealed, header, nonce, subkey(master, 1))
    records = []
    p = Reader(plain, short="format.record")
    if version == 1:
        if p.take(4) != b"REC1":
            raise Refused("format.record", "body magic")
        count = p.u32()
        if count > 10000:
            raise Refused("format.count")
        for _ in range(count):
            if p.u32() != 0:
                raise Refused("format.flags")
            kind_length = p.u8()
            if kind_length == 0:
                raise Refused("format.length", "empty kind")
            kind = text(p.take(kind_length))
            name = text(p.take(p.u32()))
            records.append(read_tail(p, kind, name))
        if p.rest():
            raise Refused("format.record", "bytes after the last record")
        no_duplicates([(x["kind"], x["name"]) for x in records])
    else:
        if p.take(4) != b"IDX2":
            raise Refused("format.record", "index magic")
        count = p.u32()
        if count > 100000:
            raise Refused("format.count")
        area_hash = p.take(32)
        area = data[r.at:]
        entries, offset = [], 0
        for _ in range(count):
            kind_length = p.u8()
            if kind_length == 0:
                raise Refused("format.length", "empty kind")
            kind = p.take(kind_length)
            name = p.take(p.u16())
            rnonce = p.take(24)
            size = p.u32()
            text(kind), text(name)
            if not 16 <= size <= 16 << 20:
                raise Refused("format.length", "sealed length %d" % size)
            if offset + size > len(area):
                raise Refused("format.truncated", "the record area is shorter than the index says")
            entries.append((kind, name, rnonce, offset, size))
            offset += size
        if p.rest():
            raise Refused("format.record", "bytes after the last index entry")
        if offset != len(area):
            raise Refused("format.trailing", "bytes after the records")
        no_duplicates([(k, n) for k, n, _, _, _ in entries])
        if blake2b(area, 32) != area_hash:
            raise Refused("format.damaged", "the record area is not the one the index commits to")
        record_key = subkey(master, 4)
        for kind, name, rnonce, at, size in entries:
            ad = vault_id + bytes([len(kind)]) + kind + struct.pack("<H", len(name)) + name
            rp = Reader(open_aead(area[at:at + size], ad, rnonce, record_key), short="format.record")
            if rp.u32() != 0:
                raise Refused("format.flags")
            records.append(read_tail(rp, kind.decode(), name.decode()))
            if rp.rest():
                raise Refused("format.record", "bytes after a record's last secret")
    return {"version": version, "vault_id": vault_id, "master": master, "records": records}


def read_token_cache(vault_dir, vault, app):
    """FORMAT.md §5.1: the MSAL JSON of one app's cache file."""
    file_id = blake2b(app.encode(), 16, key=subkey(vault["master"], 5))
    with open(os.path.join(vault_dir, "tokens", file_id.hex()), "rb") as f:
        data = f.read()
    if data[:8] != b"VCACHE2\n" or data[8:24] != vault["vault_id"]:
        raise Refused("cache header")
    length = struct.unpack("<I", data[48:52])[0]
    if 52 + length != len(data):
        raise Refused("cache length")
    return json.loads(open_aead(data[52:], data[:24] + file_id, data[24:48], subkey(vault["master"], 2)))


def credential(unlock):
    if "passphrase" in unlock:
        return {"passphrase": unlock["passphrase"]}
    return {"key_file": bytes.fromhex(unlock["key_file_hex"])}


MANIFEST = json.load(open(os.path.join(VECTORS, "manifest.json")))
V2_WITHOUT_PREFIX = {"valid-federated-app.vault"}


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_vectors_read_as_labelled(entry):
    data = open(os.path.join(VECTORS, entry["file"]), "rb").read()
    try:
        vault = read_vault(data, **credential(entry["unlock"]))
    except Refused as e:
        assert e.code == entry["expect"], "refused %s as %s, labelled %s" % (entry["file"], e, entry["expect"])
        return
    assert entry["expect"] == "ok", "read a vector labelled %s" % entry["expect"]
    apps = [r["name"] for r in vault["records"] if r["kind"] == "app"]
    assert apps == entry["apps"]
    app = next(r for r in vault["records"] if r["name"] == "vector-app" and r["kind"] == "app")
    assert app["secrets"]["current"] == b"Ab8Q~vectorsecret-vectorsecret-vectorsec"
    assert app["metadata"]["client_id"] == "22222222-2222-2222-2222-222222222222"
    # Version 1 vectors are the `valid-*` files vault-vectors makes with `make()`; the newer valid vector of a
    # federated app is written as version 2 without the `v2-` prefix.
    assert vault["version"] == (2 if entry["file"].startswith("v2-") or entry["file"] in V2_WITHOUT_PREFIX else 1)


def run(env, *args, stdin=None):
    from conftest import bin_dir
    r = subprocess.run([os.path.join(bin_dir(), "vault"), *args], input=(stdin or "").encode(), env=env, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


def test_live_vault_and_token_cache(emulator):
    d = tempfile.mkdtemp(prefix="vault-reader-")
    env = dict(os.environ, VAULT_DIR=d + "/vault", VAULT_KEY_FILE=d + "/key", VAULT_CA_BUNDLE=emulator.ca)
    run(env, "init", "--key-file", d + "/key")
    for name in ("demo", "second"):
        run(env, "add-app", name, "--tenant", emulator.info["tenant_id"], "--client-id", emulator.app["client_id"],
            "--authority", emulator.base, "--graph", emulator.base, "--allow-custom-endpoint",
            "--scope", "https://graph.microsoft.com/.default", stdin=emulator.app["secret"])
    token = json.loads(run(env, "token", "demo", "--json"))["access_token"]
    vault = read_vault(open(d + "/vault/vault.db", "rb").read(), key_file=open(d + "/key", "rb").read())
    assert vault["version"] == 2
    apps = {r["name"]: r for r in vault["records"] if r["kind"] == "app"}
    assert set(apps) == {"demo", "second"}
    assert apps["demo"]["secrets"]["current"] == emulator.app["secret"].encode()
    cache = read_token_cache(d + "/vault", vault, "demo")
    assert [t["secret"] for t in cache["AccessToken"].values()] == [token]
    assert len(os.listdir(d + "/vault/tokens")) == 1, "only the app that fetched a token has a cache file"
    shutil.rmtree(d)


def test_version1_vault_is_migrated_on_first_write(emulator):
    d = tempfile.mkdtemp(prefix="vault-reader-v1-")
    os.makedirs(d + "/vault", mode=0o700)
    entry = next(e for e in MANIFEST if e["file"] == "valid-keyfile.vault")
    shutil.copy(os.path.join(VECTORS, entry["file"]), d + "/vault/vault.db")
    os.chmod(d + "/vault/vault.db", 0o600)
    with open(d + "/key", "wb") as f:
        f.write(bytes.fromhex(entry["unlock"]["key_file_hex"]))
    os.chmod(d + "/key", 0o600)
    env = dict(os.environ, VAULT_DIR=d + "/vault", VAULT_KEY_FILE=d + "/key", VAULT_CA_BUNDLE=emulator.ca)
    before = read_vault(open(d + "/vault/vault.db", "rb").read(), key_file=open(d + "/key", "rb").read())
    assert before["version"] == 1
    assert "vector-app" in run(env, "list"), "a version-1 vault is read as it is"
    assert open(d + "/vault/vault.db", "rb").read()[:8] == b"VAULT/1\n", "reading does not rewrite"
    run(env, "add-app", "demo", "--tenant", emulator.info["tenant_id"], "--client-id", emulator.app["client_id"],
        "--authority", emulator.base, "--graph", emulator.base, "--allow-custom-endpoint",
        "--scope", "https://graph.microsoft.com/.default", stdin=emulator.app["secret"])
    after = read_vault(open(d + "/vault/vault.db", "rb").read(), key_file=open(d + "/key", "rb").read())
    assert after["version"] == 2
    assert after["vault_id"] == before["vault_id"] and after["master"] == before["master"]
    old = next(r for r in before["records"] if r["name"] == "vector-app")
    new = next(r for r in after["records"] if r["name"] == "vector-app")
    assert new == old, "the migrated record is the same record"
    assert [r["name"] for r in after["records"]] == ["vector-app", "demo"]
    shutil.rmtree(d)
