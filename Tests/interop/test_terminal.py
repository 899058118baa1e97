"""A hidden prompt restores the terminal's echo whatever signal ends the process (SIGINT, SIGTERM, SIGHUP, SIGQUIT)."""
import os
import pty
import signal
import subprocess
import tempfile
import termios
import time

import pytest

from conftest import bin_dir


def echo_after(sig):
    work = tempfile.mkdtemp()
    pid, master = pty.fork()
    if pid == 0:  # child: the pty is its controlling terminal
        os.execv(os.path.join(bin_dir(), "vault"), ["vault", "init", "--vault", os.path.join(work, "v")])
    deadline = time.time() + 20
    seen = b""
    while b"passphrase" not in seen.lower() and time.time() < deadline:
        try:
            seen += os.read(master, 1024)
        except OSError:
            break
    assert b"passphrase" in seen.lower(), seen
    time.sleep(0.2)
    hidden = not (termios.tcgetattr(master)[3] & termios.ECHO)
    os.kill(pid, sig)
    end = time.time() + 10
    status = None
    while time.time() < end:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            break
        try:  # keep the pty drained so the child never blocks writing to it
            os.set_blocking(master, False)
            os.read(master, 4096)
        except OSError:
            pass
        time.sleep(0.05)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(master)
        pytest.fail(f"vault did not end within 10 s of {sig.name}")
    attrs = termios.tcgetattr(master)
    os.close(master)
    return hidden, bool(attrs[3] & termios.ECHO), os.WTERMSIG(status) if os.WIFSIGNALED(status) else None


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
def test_echo_restored(sig):
    hidden, echo, killed_by = echo_after(sig)
    assert hidden, "the prompt did not turn echo off"
    assert echo, f"echo left off after {sig.name}"
    assert killed_by == sig, "the signal's default action still ends the process"
