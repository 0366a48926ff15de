"""Start-up: a one-off `xmodal search` from the shell, and what its time is made of.

    .venv/bin/python benchmarks/bench_startup.py [--repeats 7] [--out benchmarks/results/startup.json]

Builds a small default-profile index (a few texts and stamp pictures) once, then runs
`xmodal search "a dog barking" --index …` as a fresh process `--repeats` times (warm page cache:
the first run is discarded) and reports the median wall and CPU. Separately, each in a fresh
process: the interpreter alone, `import lancedb`, `import onnxruntime`, `import xmodal.cli`
(`-X importtime` totals), and inside one process the steps of a search after the imports:
opening the index (manifest check), loading the text model, and the query itself.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from speed_common import load_avg, machine

PY = sys.executable
XMODAL = str(Path(PY).with_name("xmodal"))


def run_child(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def repeat(cmd: list[str], env: dict[str, str], n: int) -> dict[str, Any]:
    run_child(cmd, env)  # warm the page cache
    walls, cpus = [], []
    for _ in range(n):
        w, c = run_child(cmd, env)
        walls.append(w)
        cpus.append(c)
    return {"wall_s_median": round(statistics.median(walls), 3), "wall_s_min": round(min(walls), 3),
            "cpu_s_median": round(statistics.median(cpus), 3), "runs": n, "load": load_avg()}


def import_time_ms(module: str, env: dict[str, str]) -> float:
    """Cumulative `-X importtime` of `module` in a fresh interpreter (median of 3)."""
    vals = []
    for _ in range(3):
        out = subprocess.run([PY, "-X", "importtime", "-c", f"import {module}"], env=env, capture_output=True, text=True)
        total = 0
        for line in out.stderr.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[2].strip() == module:
                total = int(parts[1])
        vals.append(total / 1000)
    return round(statistics.median(vals), 1)


STEPS = r"""
import json, sys, time
t0 = time.perf_counter()
from xmodal.cli import app  # what the console script imports
t1 = time.perf_counter()
import lancedb  # noqa: F401  (already imported? then ~0)
t2 = time.perf_counter()
from xmodal.engine import Index
idx = Index(sys.argv[1])
t3 = time.perf_counter()
from xmodal.types import Modality
idx.space.encoder(Modality.TEXT)._ensure()
t4 = time.perf_counter()
idx.search("a dog barking", k=10)
t5 = time.perf_counter()
idx.search("a cat on a mat", k=10)
t6 = time.perf_counter()
print(json.dumps({"import_xmodal_cli_s": t1 - t0, "import_lancedb_after_cli_s": t2 - t1, "open_index_s": t3 - t2,
                  "load_text_model_s": t4 - t3, "first_query_s": t5 - t4, "second_query_s": t6 - t5}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    results: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="xmodal-startup-") as d:
        index = Path(d) / "idx"
        import xmodal
        from xmodal.data.debian import fetch_deb
        from xmodal.data.tuxpaint import tuxpaint_stamps

        idx = xmodal.open(index)
        stamps = [s for s in tuxpaint_stamps(fetch_deb("tuxpaint-stamps-default")) if s.category == "animals"][:20]
        idx.add([s.image for s in stamps])
        idx.add_texts([(f"t{i}", s.caption) for i, s in enumerate(stamps)])
        del idx
        results["interpreter"] = repeat([PY, "-c", "pass"], env, args.repeats)
        results["xmodal_search"] = repeat([XMODAL, "search", "a dog barking", "--index", str(index)], env, args.repeats)
        results["xmodal_search_json"] = repeat([XMODAL, "search", "a dog barking", "--json", "--index", str(index)], env, args.repeats)
        results["import_ms"] = {m: import_time_ms(m, env) for m in ("numpy", "pyarrow", "lancedb", "onnxruntime", "tokenizers", "typer", "xmodal.cli", "xmodal.engine")}
        steps = []
        for _ in range(3):
            out = subprocess.run([PY, "-c", STEPS, str(index)], env=env, capture_output=True, text=True, check=True)
            steps.append(json.loads(out.stdout.strip().splitlines()[-1]))
        results["steps_s_median"] = {k: round(statistics.median(s[k] for s in steps), 3) for k in steps[0]}
    results["machine"]["load_avg_end"] = load_avg()
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
