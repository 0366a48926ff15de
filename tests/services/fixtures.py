"""Session-scoped pytest fixtures that start real servers on 127.0.0.1 and stop them after.

A machine without a server's binaries or Python packages skips the tests that need it, saying
what to install (`bash scripts/setup-services.sh`). Ray and Milvus listen on every interface and
Ray advertises the host's outward address, so their fixtures run only inside a network namespace
whose sole interface is `lo` (`scripts/netns-loopback.sh CMD`), unless XMODAL_SERVICES_HOST_NET=1
says the host network is fine. Under XMODAL_REQUIRE_SERVICES=1 (`.ci/run`) a missing server is
a failure instead of a skip, so CI cannot pass without having run them.
"""

from __future__ import annotations

import contextlib
import os
import time

import pytest

from .ceph import CephS3, missing_binaries
from .milvus import MilvusServer
from .process import loopback_only
from .raycluster import RayCluster, ray_executable

INSTALL_HINT = "install with `bash scripts/setup-services.sh`"


def unavailable(why: str) -> None:
    """Skip, or fail where the services are required."""
    if os.environ.get("XMODAL_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service unavailable: {why}", pytrace=False)
    pytest.skip(why)


def need_module(name: str, why: str) -> None:
    try:
        __import__(name)
    except ImportError:
        unavailable(why)


def require_loopback_netns(why: str) -> None:
    if loopback_only() or os.environ.get("XMODAL_SERVICES_HOST_NET") == "1":
        return
    unavailable(f"{why}; run the services tests in a loopback-only "
                f"network namespace: scripts/netns-loopback.sh .venv/bin/python -m pytest -m "
                f"services (or set XMODAL_SERVICES_HOST_NET=1)")


STARTED: list[dict] = []  # one record per server started this session (name, start_s, memory)


@contextlib.contextmanager
def running(name: str, service):
    """Start `service`, record its start time and memory, yield what start() returned; stop it
    whatever happens (a failed start included)."""
    try:
        t0 = time.monotonic()
        started = service.start()
        STARTED.append({"name": name, "start_s": round(time.monotonic() - t0, 2),
                        "memory_mib": service.memory_mib()})
        yield started
    finally:
        service.stop()


@pytest.fixture(scope="session")
def ceph_s3(tmp_path_factory):
    """Ceph radosgw S3 endpoint (endpoint URL, keys, an existing bucket)."""
    missing = missing_binaries()
    if missing:
        unavailable(f"Ceph radosgw not installed (missing {', '.join(missing)}); {INSTALL_HINT}")
    need_module("pyarrow.fs", "pyarrow.fs not installed")
    with running("ceph radosgw", CephS3(tmp_path_factory.mktemp("ceph"))) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    """A running MilvusServer (`.uri`, `.kill9()`, `.restart()`), data in a temp dir."""
    need_module("milvus", f"Milvus server package not installed; {INSTALL_HINT}")
    need_module("pymilvus", f"pymilvus not installed; {INSTALL_HINT}")
    require_loopback_netns("Milvus listens on all interfaces")
    server = MilvusServer(tmp_path_factory.mktemp("milvus"))
    with running("milvus", server):
        yield server


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """A Ray head + worker node on 127.0.0.1; yields the cluster (`.address` for ray.init)."""
    need_module("ray", f"Ray not installed; {INSTALL_HINT}")
    if ray_executable() is None:
        unavailable(f"the `ray` command is not installed; {INSTALL_HINT}")
    require_loopback_netns("Ray listens on all interfaces and advertises the host's outward address")
    cluster = RayCluster(tmp_path_factory.mktemp("ray"))
    with running("ray head+worker", cluster):
        yield cluster


def pytest_terminal_summary(terminalreporter):
    """One line per server this session started: start time and memory just after start."""
    if STARTED:
        terminalreporter.section("services started")
        for rec in STARTED:
            terminalreporter.write_line(
                f"{rec['name']}: started in {rec['start_s']} s, memory (MiB) {rec['memory_mib']}")
