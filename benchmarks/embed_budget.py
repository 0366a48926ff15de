"""Indexing a huge text before and after `Limits.max_embed_chars` (issue #13 follow-up).

    .venv/bin/python benchmarks/embed_budget.py --chars 5000000

Budgets cover decoding; embedding a decoded text costs one MiniLM run per chunk (about 150
characters each), so a 5 M-character text passed every decode limit and then took minutes in
the encoder. Each run indexes, in a fresh process and a fresh text-only index, one file of
CHARS characters (`tests/mediagen.make_long_text`) and one short note: "before" with
max_embed_chars raised above CHARS (the whole text is embedded, as every version before the
limit did), "after" with the default (the file fails in one line, before embedding). The
note's vector is compared across the runs: the limit changes no vector of a text under it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RUN = """
import hashlib, json, resource, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
import xmodal
from mediagen import make_long_text, make_text
from xmodal.media import Limits
work, chars, limit = sys.argv[2], int(sys.argv[3]), sys.argv[4]
limits = Limits() if limit == "default" else Limits(max_embed_chars=int(limit))
big = make_long_text(f"{work}/data/long.txt", chars * 6 // 5)
big.write_text(big.read_text()[:chars])  # exactly `chars` characters
note = make_text(f"{work}/data/note.txt", "The violin is a string instrument played with a bow.")
idx = xmodal.open(f"{work}/idx", {"name": "text", "text": {"encoder": "minilm-int8"}}, limits=limits)
idx.add([note])  # loads the model: not part of what is timed
t = time.perf_counter()
report = idx.add([big])
seconds = time.perf_counter() - t
states = idx.store.file_states()
note_id = next(s["id"] for p, s in states.items() if p.endswith("note.txt"))
[note_row] = idx.store.get([note_id], with_tokens=True)
print(json.dumps({
    "chars": len(big.read_text()), "max_embed_chars": limits.max_embed_chars, "seconds": round(seconds, 2),
    "added": len(report.added), "failed": [reason for _, reason in report.failed],
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    "note_vector_sha": hashlib.sha256(np.asarray(note_row["vector"], np.float32).tobytes()).hexdigest()[:16],
}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chars", type=int, default=5_000_000)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "embed-budget.json"))
    args = ap.parse_args()
    runs = []
    for name, limit in (("before (max_embed_chars above the text)", str(10 * args.chars)), ("after (default limit)", "default")):
        with tempfile.TemporaryDirectory(prefix="xmodal-embed-budget-") as work:
            load0 = os.getloadavg()
            out = subprocess.run([sys.executable, "-c", RUN, str(ROOT / "tests"), work, str(args.chars), limit],
                                 capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=7200)
            if out.returncode:
                sys.exit(f"{name}: exit {out.returncode}\n{out.stderr[-2000:]}")
            row = {"run": name, **json.loads(out.stdout.strip().splitlines()[-1]), "load_before": [round(x, 1) for x in load0],
                   "load_after": [round(x, 1) for x in os.getloadavg()]}
        runs.append(row)
        print(json.dumps(row), flush=True)
    same = len({r["note_vector_sha"] for r in runs}) == 1
    print(f"note vector identical across runs: {same}")
    Path(args.out).write_text(json.dumps({"cpus": os.cpu_count(), "runs": runs, "note_vector_identical": same}, indent=1) + "\n")


if __name__ == "__main__":
    main()
