"""A real local Ray cluster: a head node and one worker node, both on 127.0.0.1.

Each node is `ray start --block` in a process group of its own, so teardown signals exactly the
processes started here (`ray stop` would kill every Ray process on the machine by name).

Ray replaces `--node-ip-address 127.0.0.1` with the host's outward address (its
`resolve_ip_for_localhost`) whenever the host has a route out, and its GCS and raylets listen on
all interfaces; only inside a network namespace whose sole interface is `lo` does every byte stay
on loopback (see process.loopback_only and scripts/netns-loopback.sh).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .process import ServerProcess, free_port, free_port_block, memory_mib, wait_for

WORKER_PORTS = 200  # per node

# the idle-worker soft limit defaults to the node's CPU count (1 here): with a couple of actors
# alive, every finished task's worker is then killed and the next task starts a fresh Python
# process (measured: 120 files 70 s with 28 worker processes vs. 31 s with 14 at a limit of 6)
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_num_workers_soft_limit": "6"}


def ray_executable() -> str | None:
    """The `ray` script beside this interpreter (the venv's), else one on PATH."""
    beside = Path(sys.executable).with_name("ray")
    return str(beside) if beside.exists() else shutil.which("ray")


class RayCluster:
    """`start()` a head and a worker node; `address` is what `ray.init(address=...)` takes."""

    def __init__(self, base_dir: Path, cpus_per_node: float = 1,
                 object_store_bytes: int = 150 * 1024**2, start_timeout: float = 90):
        self.base_dir = Path(base_dir)
        # unix socket paths under the session dir must stay < 108 bytes: keep the root short
        self.temp_dir = Path(tempfile.mkdtemp(prefix="xmray-", dir="/tmp"))
        self.cpus_per_node = cpus_per_node
        self.object_store_bytes = object_store_bytes
        self.start_timeout = start_timeout
        self.port = free_port()
        self.nodes: list[ServerProcess] = []
        self.worker_port_blocks: list[int] = []
        self.start_seconds: list[float] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _node_args(self) -> list[str]:
        # every port explicit: two nodes on one host would otherwise collide on the fixed
        # defaults (dashboard agent 52365, worker ports 10002-19999). The worker ports are a block
        # below the ephemeral range: a block from it could hold a port free_port() gave another
        # component, and Ray refuses to start then ("used by other components")
        lo = free_port_block(WORKER_PORTS, taken=self.worker_port_blocks)
        self.worker_port_blocks.append(lo)
        return [
            "--block", "--node-ip-address", "127.0.0.1", "--disable-usage-stats",
            "--num-cpus", str(self.cpus_per_node),
            "--object-store-memory", str(self.object_store_bytes),
            "--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
            "--metrics-export-port", str(free_port()),
            "--dashboard-agent-listen-port", str(free_port()),
            "--dashboard-agent-grpc-port", str(free_port()),
            "--runtime-env-agent-port", str(free_port()),
            "--min-worker-port", str(lo), "--max-worker-port", str(lo + WORKER_PORTS - 1),
        ]

    def _start_node(self, name: str, extra: list[str]) -> None:
        env = dict(os.environ, **RAY_ENV)
        t0 = time.monotonic()
        node = ServerProcess(name, [ray_executable(), "start", *extra, *self._node_args()],
                             self.base_dir / f"{name}.log", env=env)
        self.nodes.append(node)
        wait_for(lambda: "Ray runtime started" in node.log_tail(20000), self.start_timeout,
                 f"ray {name} node started", node)
        self.start_seconds.append(time.monotonic() - t0)

    def start(self) -> None:
        self._start_node("head", ["--head", "--port", str(self.port), "--include-dashboard",
                                  "false", "--temp-dir", str(self.temp_dir),
                                  "--ray-client-server-port", str(free_port())])
        self._start_node("worker", ["--address", self.address])

    def memory_mib(self) -> dict[str, float]:
        return memory_mib([pid for node in self.nodes for pid in node.tree()])

    def stop(self) -> None:
        for node in reversed(self.nodes):
            # `ray start --block` forwards SIGTERM but its raylet and GCS can linger: 3 s grace
            node.stop(grace=3)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
