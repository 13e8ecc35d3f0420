"""Small helpers shared by the mailstack components: errors, port probing, log tails, waiting."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

HOST = "127.0.0.1"
POLL_INTERVAL = 0.05


class StackError(RuntimeError):
    """A component of the mail stack could not be set up, started or driven."""


def which(program: str) -> str:
    """Absolute path of a binary on PATH (plus the sbin dirs, which root's PATH may lack)."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/usr/bin:/sbin:/bin"
    found = shutil.which(program, path=path)
    if found is None:
        raise StackError(f"{program!r} not found on PATH; is its Debian package installed?")
    return found


def tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a text file, or a note saying it does not exist."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"<{path}: {exc.strerror}>"
    text = data[-64 * 1024 :].decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def log_report(*paths: Path, lines: int = 30) -> str:
    """Tails of several logs, each under a header line, for StackError messages."""
    return "\n".join(f"--- tail of {p} ---\n{tail(p, lines)}" for p in paths)


def run(args: Sequence[str], *, check: bool = True, timeout: float = 60) -> str:
    """Run a command, return its stdout; raise StackError with its output if it fails."""
    try:
        proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{' '.join(args)} timed out after {timeout}s") from exc
    if check and proc.returncode != 0:
        raise StackError(f"{' '.join(args)} exited with {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def free_port() -> int:
    """A TCP port on 127.0.0.1 that the kernel reports free right now (bind to port 0, release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = HOST) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def greeting(port: int, host: str = HOST, *, quit_cmd: bytes = b"", timeout: float = 2) -> bytes:
    """Connect, read the first line the server sends, say ``quit_cmd`` politely, return the line."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        line = sock.makefile("rb").readline(1024)
        if quit_cmd:
            with contextlib.suppress(OSError):
                sock.sendall(quit_cmd)
                sock.recv(1024)
        return line


def poll(predicate: Callable[[], bool], timeout: float, interval: float = POLL_INTERVAL) -> bool:
    """Call ``predicate`` until it returns True (-> True) or ``timeout`` seconds pass (-> False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def wait_greeting(
    port: int,
    prefix: bytes,
    deadline: float,
    *,
    what: str,
    quit_cmd: bytes = b"",
    alive: Callable[[], str | None] | None = None,
) -> None:
    """Wait until ``port`` greets with ``prefix``; raise StackError at ``deadline`` (monotonic).

    ``alive`` may return an error text when the process behind the port has died, which ends
    the wait early.
    """
    last = "no connection attempt yet"
    while True:
        if alive is not None and (dead := alive()) is not None:
            raise StackError(f"{what}: {dead}")
        try:
            line = greeting(port, quit_cmd=quit_cmd)
            if line.startswith(prefix):
                return
            last = f"unexpected greeting {line!r}"
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise StackError(f"{what}: no {prefix!r} greeting on {HOST}:{port} ({last})")
        time.sleep(POLL_INTERVAL)


def wait_ports_closed(ports: Iterable[int], timeout: float) -> list[int]:
    """Wait until none of ``ports`` accepts connections; return those still open at timeout."""
    pending = list(ports)

    def closed() -> bool:
        pending[:] = [p for p in pending if port_open(p)]
        return not pending

    poll(closed, timeout, interval=0.1)
    return pending


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (reparented daemons linger as zombies here)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def check_traversable(root: Path) -> None:
    """Raise StackError unless every parent of ``root`` lets other users (postfix, dovecot,
    uid 5000) through, i.e. has the execute bit for "others"."""
    for parent in root.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            raise StackError(
                f"{parent} (mode {stat.filemode(mode)}) is not traversable by other users, so "
                f"Postfix/Dovecot cannot reach {root}. Use a directory such as "
                f"tempfile.mkdtemp(prefix='mailstack-') under /tmp (pytest's tmp_path is 0700)."
            )


def rm_tree_contents(path: Path) -> None:
    """Remove everything inside ``path`` (not ``path`` itself); missing ``path`` is fine."""
    if not path.is_dir():
        return
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 15) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL: how every server of the stack is stopped."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
