"""Record the golden values of the shipped artifacts (run at release, after retraining one of them
or after an intended change of decoding or features; commit the JSON files it writes):

    PYTHONPATH=src .venv/bin/python tests/golden/record.py

Needs apt (or the pinned .debs already in xmodal's cache) for the Tux Paint and Scratch fixtures.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import measure  # noqa: E402

import xmodal  # noqa: E402
from xmodal.bind import load_binding  # noqa: E402
from xmodal.data.debian import fetch_deb  # noqa: E402

HERE = Path(__file__).parent
# Allowed drift of each averaged metric, and of the share of queries whose relevant item moved:
# identical code gives identical numbers here; thread scheduling can at most reorder near-ties.
TOLERANCE = {"metric": 0.05, "moved_queries": 0.1, "min_cosine": 0.999}


def write(name: str, artifact: str, measured: dict) -> None:
    path = HERE / f"{name}.json"
    doc = {
        "artifact": artifact,
        "recorded": time.strftime("%Y-%m-%d"),
        "xmodal_version": xmodal.__version__,
        "fixture_packages": measure.fixture_packages(),
        "command": "PYTHONPATH=src .venv/bin/python tests/golden/record.py",
        "tolerance": TOLERANCE,
        **measured,
    }
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {path}")


def main() -> None:
    stamps = fetch_deb(measure.STAMPS_DEB)
    scratch = fetch_deb(measure.SCRATCH_DEB)
    write("sound-bank", "xmodal/encode/assets/sound-bank", {"banks": measure.sound_bank(scratch)})
    m = measure.stamps_measurements(stamps)
    binding = load_binding("default")
    write("binding", f"xmodal/bind/default (weights {binding.fingerprint()['weights_sha256'][:16]})", {"sets": m["binding"]})
    write("reranker", "xmodal/rerank/default (fused with the first stage, default depth)", {"sets": m["reranker"]})


if __name__ == "__main__":
    main()
