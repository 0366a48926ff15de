"""How many validation lists of a reranker training run share a caption with its training lists,
under the split the shipped reranker was selected with (by query id) and under the caption-group
split the trainer uses now (`xmodal.train.split`). Reads the sets only; no model is loaded.

    .venv/bin/python benchmarks/rerank_split_leak.py [--out benchmarks/results/rerank-split-leak.json]

A list's captions are those `xmodal.train.rerank.collect` gives it: its query's text and the text
items judged relevant to it. Queries whose first-stage list came back empty are not excluded here
(the trainer drops them), so counts may differ from the artifact's by a few lists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from xmodal.data import build_set
from xmodal.data.beir import load_set
from xmodal.train.rerank import FitConfig
from xmodal.train.split import caption_key, split_by_caption

SHIPPED_SETS = ["tuxpaint-t2i", "tuxpaint-t2a", "tuxpaint-video", "tuxpaint-i2t", "asterisk-t2a"]


def by_query_id(group: str, qid: str, frac: float, seed: int) -> bool:
    """The split the shipped reranker was selected with (train/rerank.py before #10): True = validation."""
    return int(hashlib.sha1(f"{seed}:{group}:{qid}".encode()).hexdigest()[:8], 16) % 10_000 < frac * 10_000


def leaks(lists: list[tuple[str, str, tuple[str, ...]]], val: set[int]) -> dict:
    seen = {k for i, (_, _, keys) in enumerate(lists) if i not in val for k in keys}
    leaky = [i for i in sorted(val) if any(k in seen for k in lists[i][2])]
    return {"validation_lists": len(val), "training_lists": len(lists) - len(val),
            "validation_lists_with_a_training_caption": len(leaky),
            "by_set": {s: [sum(lists[i][0] == s for i in leaky), sum(lists[i][0] == s for i in val)] for s in SHIPPED_SETS}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    cfg = FitConfig()
    lists = []
    for name in SHIPPED_SETS:
        es = load_set(build_set(name), "train")
        for qid, q in es.queries.items():
            texts = [q.text or ""] + [es.corpus[c].index_text() for c, s in es.qrels[qid].items()
                                      if s >= 1 and es.corpus[c].path is None]
            lists.append((name, qid, tuple(sorted({caption_key(t) for t in texts if t.strip()}))))
    old = {i for i, (g, q, _) in enumerate(lists) if by_query_id(g, q, cfg.val_frac, cfg.seed)}
    new = set(split_by_caption([keys or (f"\0{g}\0{q}",) for g, q, keys in lists], cfg.val_frac, cfg.seed)[1])
    result = {"sets": SHIPPED_SETS, "val_frac": cfg.val_frac, "seed": cfg.seed, "lists": len(lists),
              "by_query_id": leaks(lists, old), "by_caption_group": leaks(lists, new)}
    for name in ("by_query_id", "by_caption_group"):
        r = result[name]
        print(f"{name}: {r['validation_lists_with_a_training_caption']} of {r['validation_lists']} validation lists "
              f"share a caption with a training list; per set [leaky, validation]: {r['by_set']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
