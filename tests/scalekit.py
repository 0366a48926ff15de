"""What the scale-out tests (test_scale_*.py) share: a small mixed folder, the profile that
indexes it without heavy models, the S3 environment of the Ceph fixture, and subprocess runs of
the CLI against an index URI."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from mediagen import make_image, make_text

# text + images (no OCR): real encoders, light enough for several Ray actors on 2 cores
PROFILE = {
    "name": "scale-test",
    "text": {"encoder": "minilm-int8"},
    "image": {"encoder": "conse-effnet", "args": {"ocr": False}},
}
TOPICS = ["violins and cellos", "bread and yeast", "trains and stations", "whales in the sea", "snow on mountains",
          "coffee beans", "chess openings", "tomato gardens", "solar panels", "jazz trumpets"]
COLOURS = [(220, 20, 20), (20, 20, 220), (20, 200, 20), (240, 240, 20)]
SRC = str(Path(__file__).resolve().parents[1] / "src")


def media_folder(root: Path, texts: int = 10, images: int = 2, bad: bool = True) -> Path:
    """`texts` notes, `images` small pictures and (bad=True) one corrupt PNG."""
    for i in range(texts):
        make_text(root / "notes" / f"note-{i:03d}.txt", f"Note {i}: a page about {TOPICS[i % len(TOPICS)]}, number {i}.")
    for i in range(images):
        make_image(root / "img" / f"pic-{i}.png", size=(64, 48), color=COLOURS[i % len(COLOURS)])
    if bad:
        (root / "img" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a picture")
    return root


def s3_uri(ceph_s3, name: str = "idx") -> str:
    """A fresh prefix in the fixture's bucket."""
    return f"s3://{ceph_s3.bucket}/{name}-{uuid.uuid4().hex[:8]}"


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for `python -m xmodal.cli` in a subprocess: this checkout first on the path."""
    env = dict(os.environ, **(extra or {}))
    env["PYTHONPATH"] = SRC + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


XMODAL = [sys.executable, "-c", "import sys; from xmodal.cli import main; sys.argv[0] = 'xmodal'; main()"]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*XMODAL, *args], capture_output=True, text=True, env=cli_env(env), timeout=timeout, check=False)


def cli_popen(*args: str, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([*XMODAL, *args], env=cli_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def assert_each_file_once(store, files: set[str]) -> None:
    """The index holds exactly these files, each in one row (a file indexed twice would make the
    row count exceed the distinct paths)."""
    store.refresh()
    assert set(store.file_states()) == files
    assert store.count() == len(files)


def check_incremental(uri: str, folder: Path, files_before: int):
    """Reopen the index at `uri` (no profile: its manifest's), re-run (all skipped), change one
    note and delete another, re-run with prune; every file then once. Returns the index."""
    import xmodal

    again = xmodal.open(uri)
    rep = again.add([folder])
    assert rep.summary()["skipped"] == files_before and not rep.added and not rep.updated
    (folder / "notes" / "note-001.txt").write_text("Changed: a page about owls at night.")
    (folder / "notes" / "note-002.txt").unlink()
    rep = again.add([folder], prune=True)
    assert [p.rsplit("/", 1)[-1] for p in rep.updated] == ["note-001.txt"]
    assert [p.rsplit("/", 1)[-1] for p in rep.pruned] == ["note-002.txt"]
    assert_each_file_once(again.store, {str(p.resolve()) for p in folder.rglob("*") if p.is_file() and p.name != "broken.png"})
    return again
