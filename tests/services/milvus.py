"""A real Milvus 2.3.x standalone server from the PyPI `milvus` package, on 127.0.0.1.

The package's own `MilvusServer` hides its process and waits 1 s per stop before SIGKILL; here
its config writer (`MilvusServerConfig`) renders milvus.yaml with explicit free ports and a data
dir, and the binary it ships runs as a `ServerProcess`, so a test can kill -9 the server and start
it again on the same data.
"""

from __future__ import annotations

import os
import time
import urllib.request
from pathlib import Path

from .process import ServerProcess, free_port, port_open, wait_for

# every `{{ x_port }}` in the package's config template; any left unset would be picked by the
# package from a fixed start (19530, 2379, ...) and may collide with another run
PORT_KEYS = ("proxy_port", "proxy_internal_port", "etcd_port", "root_coord_port",
             "query_coord_port", "query_node_port", "index_coord_port", "index_node_port",
             "data_coord_port", "data_node_port")
COMPONENTS = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode",
              "dataCoord", "dataNode")


class MilvusServer:
    """`start()`, `kill9()`, `restart()`, `stop()` one Milvus on one data dir."""

    def __init__(self, base_dir: Path, start_timeout: float = 120):
        from milvus import MilvusServerConfig, _initialize_data_files

        self.base_dir = Path(base_dir)
        self.start_timeout = start_timeout
        self.ports = {key: free_port() for key in PORT_KEYS}
        self.health_port = free_port()
        self.etcd_peer_port = free_port()
        config = MilvusServerConfig(data_dir=str(self.base_dir), **self.ports)
        # SIGTERM otherwise waits up to 30 min for a graceful stop
        config.set("common.gracefulStopTimeout", 3)
        for component in COMPONENTS:  # the address each component registers (see process.loopback_only)
            config.set(f"{component}.ip", "127.0.0.1")
        config.resolve()  # writes configs/milvus.yaml under base_dir
        # the embedded etcd ignores etcd.endpoints and listens on *:2379/2380 unless given a file
        self.etcd_config = self.base_dir / "configs" / "embedEtcd.yaml"
        client, peer = (f"http://127.0.0.1:{p}" for p in (self.ports["etcd_port"], self.etcd_peer_port))
        self.etcd_config.write_text(
            f"listen-client-urls: {client}\nadvertise-client-urls: {client}\n"
            f"listen-peer-urls: {peer}\ninitial-advertise-peer-urls: {peer}\n"
            f"initial-cluster: default={peer}\n")
        _initialize_data_files(str(self.base_dir))  # unpacks the server binary into base_dir/bin
        self.server: ServerProcess | None = None
        self.starts = 0
        self.last_start_s = 0.0

    @property
    def port(self) -> int:
        return self.ports["proxy_port"]

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _healthy(self) -> bool:
        url = f"http://127.0.0.1:{self.health_port}/healthz"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return b"OK" in resp.read() and port_open(self.port)

    def start(self) -> float:
        """Start the server on the data dir and wait until it serves; returns the seconds."""
        bin_dir = self.base_dir / "bin"
        env = dict(os.environ, DEPLOY_MODE="STANDALONE", METRICS_PORT=str(self.health_port),
                   ETCD_CONFIG_PATH=str(self.etcd_config),
                   MILVUS_RUN_DIR=str(self.base_dir / "run"),
                   LD_LIBRARY_PATH=f"{bin_dir}:{os.environ.get('LD_LIBRARY_PATH', '')}")
        t0 = time.monotonic()
        self.starts += 1
        self.server = ServerProcess(
            "milvus", [str(bin_dir / "milvus"), "run", "standalone"],
            self.base_dir / "logs" / f"milvus-run{self.starts}.log", env=env, cwd=self.base_dir)
        wait_for(self._healthy, self.start_timeout, "Milvus /healthz OK", self.server)
        self.last_start_s = time.monotonic() - t0
        return self.last_start_s

    def _forget_server_id(self) -> None:
        # Milvus 2.3 writes /tmp/milvus/server_id_<pid> whatever its config says
        if self.server is not None:
            Path(f"/tmp/milvus/server_id_{self.server.pid}").unlink(missing_ok=True)

    def kill9(self) -> None:
        """Crash the server (SIGKILL to it and its children); the data dir stays."""
        if self.server is not None:
            self.server.kill9()
            self._forget_server_id()

    def restart(self, kill: bool = True) -> float:
        """kill -9 (or a graceful stop with kill=False) and start again on the same data."""
        if kill:
            self.kill9()
        else:
            self.stop()
        # the embedded etcd and rocksmq release their files only when the old process is gone
        wait_for(lambda: not port_open(self.port), 30, "Milvus port released")
        return self.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(grace=10)
            self._forget_server_id()

    def memory_mib(self) -> dict[str, float]:
        return self.server.memory_mib() if self.server is not None else {"rss": 0, "pss": 0}
