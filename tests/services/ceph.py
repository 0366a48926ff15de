"""A real S3 server: Ceph's radosgw over one monitor and one BlueStore OSD on a file, on 127.0.0.1.

No cephadm, no systemd: the daemons run in the foreground (`-f`) under temp dirs, with cephx off
(S3 requests are still signed and checked by radosgw against its own user keys) and the
messenger in crc mode, which is what cephx-less msgr2 needs.
"""

from __future__ import annotations

import shutil
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .process import ServerProcess, free_port, run, wait_for

BINARIES = ("ceph-mon", "ceph-osd", "radosgw", "ceph", "monmaptool", "radosgw-admin")
REGION = "us-east-1"


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None]


@dataclass
class S3Endpoint:
    """What a client needs: the endpoint, the keys, a bucket that exists."""

    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    region: str = REGION
    timings: dict = field(default_factory=dict)
    memory_mib: Callable[[], dict] | None = None  # the daemons' memory now, per daemon

    def storage_options(self) -> dict[str, str]:
        """For lancedb.connect / Lance (Rust object_store keys)."""
        return {"aws_access_key_id": self.access_key, "aws_secret_access_key": self.secret_key,
                "aws_endpoint": self.endpoint, "aws_region": self.region, "allow_http": "true"}

    def env(self) -> dict[str, str]:
        """The usual AWS environment variables for the same account.

        The two checksum settings stop newer AWS SDKs (pyarrow's C++ one among them) from
        sending aws-chunked uploads with trailing checksums, which radosgw 16 rejects (HTTP 411).
        """
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region, "AWS_ALLOW_HTTP": "true",
                "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
                "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required"}


def ceph_conf(base: Path, fsid: str, mon_port: int, rgw_port: int) -> str:
    modes = "\n".join(f"ms {kind} mode = crc secure" for kind in
                      ("mon client", "client", "mon service", "service", "mon cluster", "cluster"))
    return f"""[global]
fsid = {fsid}
mon host = [v2:127.0.0.1:{mon_port}]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
{modes}
run dir = {base}/run
admin socket = {base}/run/$name.asok
log file = {base}/log/$name.log
mon cluster log file = {base}/log/ceph.$channel.log
mon data = {base}/$name
osd data = {base}/$name
osd objectstore = bluestore
bluestore block size = {3 * 1024**3}
osd memory target = {512 * 1024**2}
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 2
mon data avail crit = 1
osd crush chooseleaf type = 0
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:{rgw_port}
"""


class CephS3:
    """`start()` mon → OSD → radosgw, make a user and a bucket; `stop()` in reverse."""

    def __init__(self, base_dir: Path, bucket: str = "xmodal-test", start_timeout: float = 90):
        self.base = Path(base_dir)
        self.bucket = bucket
        self.start_timeout = start_timeout
        self.mon_port, self.rgw_port = free_port(), free_port()
        self.conf = self.base / "ceph.conf"
        self.daemons: list[ServerProcess] = []
        self.endpoint: S3Endpoint | None = None

    def _ceph(self, *args: str) -> str:
        return run(["ceph", "-c", str(self.conf), "--connect-timeout", "20", *args], timeout=60)

    def _daemon(self, name: str, argv: list[str]) -> ServerProcess:
        proc = ServerProcess(name, argv, self.base / "log" / f"{name}.stdout")
        self.daemons.append(proc)
        return proc

    def _osd_up(self) -> bool:
        return '"num_up_osds":1' in self._ceph("osd", "stat", "-f", "json").replace(" ", "")

    def _rgw_answers(self) -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.rgw_port}/", timeout=2) as resp:
            return resp.status == 200

    def start(self) -> S3Endpoint:
        t0 = time.monotonic()
        for sub in ("run", "log", "mon.a", "osd.0"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        fsid = str(uuid.uuid4())
        self.conf.write_text(ceph_conf(self.base, fsid, self.mon_port, self.rgw_port))
        conf = ["-c", str(self.conf)]
        monmap = self.base / "monmap"
        run(["monmaptool", "--create", "--addv", "a", f"[v2:127.0.0.1:{self.mon_port}]",
             "--fsid", fsid, str(monmap)])
        run(["ceph-mon", *conf, "--mkfs", "-i", "a", "--monmap", str(monmap)])
        mon = self._daemon("mon.a", ["ceph-mon", *conf, "-f", "-i", "a"])
        wait_for(lambda: "quorum" in self._ceph("quorum_status"), self.start_timeout,
                 "ceph monitor in quorum", mon)
        osd_uuid = str(uuid.uuid4())
        osd_id = self._ceph("osd", "new", osd_uuid).strip()
        run(["ceph-osd", *conf, "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid], timeout=120)
        osd = self._daemon(f"osd.{osd_id}", ["ceph-osd", *conf, "-f", "-i", osd_id])
        wait_for(self._osd_up, self.start_timeout, "ceph OSD up", osd)
        t_rados = time.monotonic()
        rgw = self._daemon("rgw.a", ["radosgw", *conf, "-f", "-n", "client.rgw.a"])
        wait_for(self._rgw_answers, self.start_timeout, "radosgw answering HTTP", rgw)
        access, secret = uuid.uuid4().hex[:20].upper(), uuid.uuid4().hex
        run(["radosgw-admin", *conf, "user", "create", "--uid", "xmodal-test",
             "--display-name", "xmodal tests", "--access-key", access, "--secret", secret])
        self.endpoint = S3Endpoint(f"http://127.0.0.1:{self.rgw_port}", access, secret,
                                   self.bucket, memory_mib=self.memory_mib)
        t_bucket = time.monotonic()
        self._create_bucket()
        done = time.monotonic()
        self.endpoint.timings = {"rados_s": round(t_rados - t0, 2),
                                 "rgw_s": round(t_bucket - t_rados, 2),
                                 "bucket_s": round(done - t_bucket, 2),
                                 "total_s": round(done - t0, 2)}
        return self.endpoint

    def _create_bucket(self) -> None:
        import pyarrow.fs as pafs

        ep = self.endpoint
        fs = pafs.S3FileSystem(access_key=ep.access_key, secret_key=ep.secret_key,
                               endpoint_override=ep.endpoint, scheme="http", region=ep.region,
                               allow_bucket_creation=True)
        fs.create_dir(ep.bucket)  # radosgw makes its data pools on the first bucket (~2 s)

    def memory_mib(self) -> dict[str, dict[str, float]]:
        return {d.name: d.memory_mib() for d in self.daemons}

    def stop(self) -> None:
        # gateway first, then the OSD while the monitor can still hear it leave
        for daemon in reversed(self.daemons):
            daemon.stop(grace=5)
