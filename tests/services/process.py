"""Start, watch and stop the server processes that the service fixtures own.

Every server runs in a session (and process group) of its own, so stopping it signals exactly
the processes this code started and their children — never anything found by name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


_HANDED_OUT: set[int] = set()  # a port closed here is free again: the kernel may pick it twice


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (the kernel picks it), and not one this
    process handed out before (a server given two equal ports fails to start)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def free_port_block(n: int, taken: Sequence[int] = ()) -> int:
    """The first of `n` consecutive ports, all free on 127.0.0.1 now and below the kernel's
    ephemeral range: `free_port()` (and every port-0 listener) never hands one of them out, so a
    range that a server binds later (Ray's worker ports) cannot meet another component's port.
    `taken`: first ports of blocks of `n` already handed to others."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for start in range(low - n, 10_000, -n):
        if start in taken:
            continue
        socks = []
        try:
            for port in range(start, start + n):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return start
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no {n} consecutive free ports below {low}")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def loopback_only() -> bool:
    """True inside a network namespace whose only interface is the loopback one."""
    return {name for _, name in socket.if_nameindex()} == {"lo"}


def running(pid: int) -> bool:
    """The process exists and is not a zombie waiting for its parent."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def descendants(pid: int) -> list[int]:
    """pid and every process below it (walks /proc/PID/task/*/children)."""
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.append(p)
            todo += _children(p)
    return seen


def memory_mib(pids: Sequence[int]) -> dict[str, float]:
    """Resident (RSS) and proportional (PSS: shared pages split among their users) memory of
    the given processes together, in MiB; vanished processes count 0. RSS sums count shared
    pages (Ray's object store, libraries) once per process, so PSS is the honest total."""
    total = {"rss": 0, "pss": 0}
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                key = line.split(":")[0].lower()
                if key in total:
                    total[key] += int(line.split()[1])
        except OSError:
            pass
    return {k: round(v / 1024, 1) for k, v in total.items()}


class ServerProcess:
    """One server command in its own process group, output to a log file."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, env: dict | None = None,
                 cwd: Path | None = None):
        self.name, self.argv, self.log = name, list(argv), Path(log)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd=cwd, start_new_session=True)
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tree(self) -> list[int]:
        return descendants(self.pid) if self.alive() else []

    def memory_mib(self) -> dict[str, float]:
        return memory_mib(self.tree())

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _signal_all(self, sig: int, pids: Sequence[int]) -> None:
        # the group first (children that kept it), then stragglers that made their own group
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass

    def _wait_gone(self, pids: Sequence[int], timeout: float = 10) -> None:
        self.proc.wait(timeout=30)
        wait_for(lambda: not any(running(p) for p in pids), timeout,
                 f"{self.name}'s processes {list(pids)} gone")

    def kill9(self) -> None:
        """SIGKILL the server and everything it started, as a crash would; waits until all
        of them are gone."""
        pids = descendants(self.pid)
        self._signal_all(signal.SIGKILL, pids)
        self._wait_gone(pids)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; always reaps the server."""
        if self.proc.returncode is not None:
            return
        pids = descendants(self.pid)
        self._signal_all(signal.SIGTERM, [])
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        survivors = [p for p in pids if running(p)]
        if self.proc.poll() is None or survivors:
            self._signal_all(signal.SIGKILL, survivors)
        self._wait_gone(pids)


def wait_for(check: Callable[[], bool], timeout: float, what: str,
             server: ServerProcess | None = None, interval: float = 0.2) -> float:
    """Poll `check` until it is true; returns the seconds waited. Raises with the server's log
    tail if the server dies first or the time runs out."""
    start = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - start
        except Exception:  # a server still starting refuses, resets, answers 5xx...
            pass
        if server is not None and not server.alive():
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode} before "
                               f"{what}; log {server.log}:\n{server.log_tail()}")
        if time.monotonic() - start > timeout:
            tail = f"; log {server.log}:\n{server.log_tail()}" if server else ""
            raise TimeoutError(f"{what}: not within {timeout:.0f} s{tail}")
        time.sleep(interval)


def run(argv: Sequence[str], timeout: float = 60, **kw) -> str:
    """Run a setup command to completion; a failure names the command and shows its output."""
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          check=False, **kw)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n"
                           f"{done.stdout[-1500:]}{done.stderr[-1500:]}")
    return done.stdout
