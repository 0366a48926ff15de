"""The service fixtures stop exactly what they started: the server, its children, a child that
ignores SIGTERM, and nothing else."""

from __future__ import annotations

import subprocess
import time

from services.process import ServerProcess, descendants, running, wait_for

# a "server" whose child ignores SIGTERM and writes its pid, like a daemon's helper would
STUBBORN = "sh -c 'trap \"\" TERM; echo $$ > {pidfile}; exec sleep 300' & exec sleep 300"


def test_stop_ends_the_server_and_a_child_that_ignores_sigterm(tmp_path):
    pidfile = tmp_path / "child.pid"
    bystander = subprocess.Popen(["sleep", "300"])  # same command, not ours to stop
    try:
        server = ServerProcess("stub", ["sh", "-c", STUBBORN.format(pidfile=pidfile)],
                               tmp_path / "stub.log")
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 10, "child started")
        child = int(pidfile.read_text())
        assert child in descendants(server.pid)
        t0 = time.monotonic()
        server.stop(grace=1)
        assert time.monotonic() - t0 < 10
        assert not server.alive() and not running(child)
        assert bystander.poll() is None  # a process of the same name outside the group lives
    finally:
        bystander.kill()
        bystander.wait()


def test_kill9_leaves_no_process_of_the_group(tmp_path):
    server = ServerProcess("stub", ["sh", "-c", "sleep 300 & sleep 300 & wait"],
                           tmp_path / "stub.log")
    wait_for(lambda: len(descendants(server.pid)) == 3, 10, "children started")
    group = descendants(server.pid)
    server.kill9()
    assert server.proc.returncode == -9
    wait_for(lambda: not any(running(p) for p in group), 5, "children gone")
