"""vault's prompts on a real terminal (a pty): passphrases and secrets are read without echo from the terminal."""
import os
import tempfile

import pexpect

from conftest import bin_dir

VAULT = os.path.join(bin_dir(), "vault")


def spawn(args, env):
    return pexpect.spawn(VAULT, args, env=env, encoding="utf-8", timeout=60)


def fresh_env():
    d = tempfile.mkdtemp(prefix="vault-tty-")
    return d, dict(os.environ, VAULT_DIR=os.path.join(d, "vault"))


def test_init_asks_twice_without_echo_then_unlocks_at_the_prompt():
    d, env = fresh_env()
    p = spawn(["init", "--kdf-ops", "1", "--kdf-memory", "8"], env)
    p.expect("New vault passphrase: ")
    p.sendline("a long enough passphrase")
    p.expect("Repeat the passphrase: ")
    p.sendline("a long enough passphrase")
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 0, p.before
    assert "a long enough passphrase" not in p.before
    assert "Created vault" in p.before

    # add-app on a terminal: the secret comes from a hidden prompt, then the vault passphrase.
    p = spawn(["add-app", "tty", "--tenant", "contoso.onmicrosoft.com", "--client-id", "22222222-2222-2222-2222-222222222222"], env)
    p.expect("Client secret for tty: ")
    p.sendline("Tty8Q~typed-secret-value")
    p.expect("Vault passphrase: ")
    p.sendline("a long enough passphrase")
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 0, p.before
    assert "typed-secret-value" not in p.before
    for name in os.listdir(os.path.join(d, "vault")):
        with open(os.path.join(d, "vault", name), "rb") as f:
            assert b"typed-secret-value" not in f.read()


def test_mismatched_passphrases_create_nothing():
    d, env = fresh_env()
    p = spawn(["init", "--kdf-ops", "1", "--kdf-memory", "8"], env)
    p.expect("New vault passphrase: ")
    p.sendline("first passphrase")
    p.expect("Repeat the passphrase: ")
    p.sendline("second passphrase")
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 64
    assert "vault: error: the two passphrases differ" in p.before
    assert not os.path.exists(os.path.join(d, "vault", "vault.db"))


def test_wrong_passphrase_at_the_prompt_and_remove_confirmation():
    d, env = fresh_env()
    key = os.path.join(d, "pass")
    with open(key, "w") as f:
        f.write("correct passphrase\n")
    os.chmod(key, 0o600)
    p = spawn(["init", "--passphrase-file", key, "--kdf-ops", "1", "--kdf-memory", "8"], env)
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 0, p.before
    p = spawn(["add-app", "a", "--tenant", "contoso.com", "--client-id", "22222222-2222-2222-2222-222222222222", "--passphrase-file", key], env)
    p.expect("Client secret for a: ")
    p.sendline("Abc8Q~x")
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 0, p.before
    p = spawn(["list"], env)
    p.expect("Vault passphrase: ")
    p.sendline("wrong passphrase")
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 77
    assert "the passphrase does not unlock this vault" in p.before

    p = spawn(["remove", "a", "--passphrase-file", key], env)
    p.expect(r"Remove app 'a' and its client secret from the vault\? \[y/N\] ")
    p.sendline("n")
    p.expect(pexpect.EOF)
    p.close()
    assert "Nothing removed." in p.before
    p = spawn(["remove", "a", "--passphrase-file", key], env)
    p.expect(r"\[y/N\] ")
    p.sendline("y")
    p.expect(pexpect.EOF)
    p.close()
    assert "Removed app 'a'." in p.before
