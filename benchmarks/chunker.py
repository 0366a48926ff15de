"""The MiniLM chunker's own cost on long texts, model excluded (issue #13 item 3).

    .venv/bin/python benchmarks/chunker.py --before-src /path/to/old/xmodal/src --chars 100000,800000

The ONNX session is replaced by one that returns zeros of the right shape, so what is timed is
the tokenizer and xmodal's chunk planning and pooling: the part that was quadratic (the token
offsets list rebuilt for every chunk). Each size runs in a fresh process per tree.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RUN = """
import json, resource, sys, time
import numpy as np
sys.path.insert(0, sys.argv[2])
from mediagen import make_long_text
from xmodal.encode.text_minilm import MiniLMTextEncoder
from xmodal.types import Media, Modality
text = make_long_text(sys.argv[3], int(sys.argv[1])).read_text()
enc = MiniLMTextEncoder()
enc._ensure()
class Zeros:
    def run(self, names, feeds):
        return [np.zeros(feeds["input_ids"].shape + (384,), np.float32)]
enc._session = Zeros()
t = time.perf_counter()
emb = enc.encode([Media(Modality.TEXT, text=text)])[0]
print(json.dumps({"seconds": time.perf_counter() - t, "chunks": len(emb.segments),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before-src")
    ap.add_argument("--chars", default="100000,800000")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "chunker.json"))
    args = ap.parse_args()
    trees = ([("before", args.before_src)] if args.before_src else []) + [("after", str(ROOT / "src"))]
    rows = []
    for chars in (int(c) for c in args.chars.split(",")):
        for name, src in trees:
            out = subprocess.run([sys.executable, "-c", RUN, str(chars), str(ROOT / "tests"), f"/tmp/xmodal-chunker-{os.getpid()}.txt"],
                                 capture_output=True, text=True, env={**os.environ, "PYTHONPATH": src}, timeout=3600)
            row = {"tree": name, "chars": chars, **json.loads(out.stdout.strip().splitlines()[-1])}
            rows.append(row)
            print(row, flush=True)
    Path(args.out).write_text(json.dumps({"load": os.getloadavg(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
