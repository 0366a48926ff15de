"""Fetch a pinned Debian package with apt and unpack it (no install, no root needed for dpkg -x)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from xmodal.config import cache_dir
from xmodal.data.sources import pin

_REPIN = "Debian point releases change versions: re-pin in xmodal/data/sources.py"
_MARKER = ".xmodal-extracted"


class DebianFetchError(RuntimeError):
    """A package could not be downloaded or unpacked; the message says why and what to do."""


def deb_filename_glob(package: str, version: str) -> str:
    # apt names files PKG_VERSION_ARCH.deb with the epoch colon escaped as %3a
    return f"{package}_{version.replace(':', '%3a')}_*.deb"


def _find_deb(package: str, version: str, dirs: list[Path]) -> Path | None:
    pattern = deb_filename_glob(package, version)
    for d in dirs:
        if d.is_dir():
            hits = sorted(d.glob(pattern))
            if hits:
                return hits[0]
    return None


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def download_deb(package: str, version: str | None = None) -> Path:
    """The .deb file for PACKAGE=VERSION in cache_dir("debs"), downloading it with apt if absent."""
    version = version or pin(package)
    debs = cache_dir("debs")
    found = _find_deb(package, version, [debs])
    if found:
        return found
    # A copy fetched earlier under the default cache (e.g. when $XMODAL_CACHE points elsewhere).
    default = Path.home() / ".cache" / "xmodal" / "debs"
    other = _find_deb(package, version, [default]) if default.resolve() != debs.resolve() else None
    if other:
        target = debs / other.name
        try:
            os.link(other, target)
        except OSError:  # different filesystem: copy instead
            shutil.copy2(other, target)
        return target

    if shutil.which("apt-get") is None:
        raise DebianFetchError(
            f"{package}={version}: apt-get is not available here; fetch the .deb on a Debian "
            f"machine and put it in {debs}"
        )
    cmd = ["apt-get", "download", f"{package}={version}"]
    res = _run(cmd, debs)
    if res.returncode != 0 and ("Unable to locate" in res.stderr or "not found" in res.stderr):
        # The package lists may simply be missing or stale: refresh once, then retry.
        _run(["apt-get", "update"], debs)
        res = _run(cmd, debs)
    if res.returncode != 0:
        hint = _REPIN if ("not found" in res.stderr or "Unable to locate" in res.stderr) else ""
        raise DebianFetchError(
            f"{package}={version}: apt-get download failed: {res.stderr.strip()[-400:]} {hint}".strip()
        )
    found = _find_deb(package, version, [debs])
    if not found:
        raise DebianFetchError(f"{package}={version}: apt-get reported success but no .deb in {debs}")
    return found


def fetch_deb(package: str, version: str | None = None) -> Path:
    """Download (if needed) and unpack PACKAGE=VERSION; returns the extraction root.

    Idempotent: a marker file records the unpacked version, so a second call does no work.
    """
    version = version or pin(package)
    root = cache_dir("debs", "x", package)
    marker = root / _MARKER
    if marker.is_file() and marker.read_text().strip() == version:
        return root
    deb = download_deb(package, version)
    if shutil.which("dpkg") is None:
        raise DebianFetchError(f"{deb}: dpkg is not available here to unpack it")
    # Unpack into a fresh folder so a failed or older extraction never mixes with this one.
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    res = _run(["dpkg", "-x", str(deb), str(root)], root)
    if res.returncode != 0:
        raise DebianFetchError(f"{deb}: dpkg -x failed: {res.stderr.strip()[-400:]}")
    marker.write_text(version + "\n")
    return root
