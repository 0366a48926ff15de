"""Compare LLM judges from `refine_eval.py` results: filtering, ranking signal, keep rules, latency.

    .venv/bin/python benchmarks/refine_judges_report.py benchmarks/results/refine-judges.json

For every (model, set): the refiner's precision/recall of kept items against keep-all, citation
validity, ask latency (wall p50 and CPU-seconds p50), and what the judge's own yes/no logits say
when used to rank the 10 items (R@1 by logit vs. the first-stage R@1), plus the precision/recall
that other keep rules would give on the same logits (no model call: the logits are recorded).
Then the worst misses of each model: relevant items scored low while a distractor scored high.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def _items(row: dict) -> list[tuple[bool, float, str]]:
    return [(bool(rel), float(score), ev) for rel, score, ev in row["kept_evidence"] + row["dropped_evidence"]
            if score is not None]


def keep_rule(items: list[tuple[bool, float, str]], rule: str) -> tuple[float, float]:
    """(precision, recall) of the relevant items for one query under a keep rule on the logits."""
    best = max(s for _, s, _ in items)
    if rule == "top1":
        kept = [max(items, key=lambda x: x[1])]
    elif rule.startswith("margin"):
        kept = [x for x in items if x[1] >= best - float(rule[6:])]
    else:  # "thr<x>": absolute logit threshold
        kept = [x for x in items if x[1] >= float(rule[3:])]
    tp = sum(rel for rel, _, _ in kept)
    n_rel = sum(rel for rel, _, _ in items)
    return (tp / len(kept) if kept else 0.0), (tp / n_rel if n_rel else 0.0)


def main() -> None:
    data = json.loads(Path(sys.argv[1]).read_text())
    rules = ["top1", "margin0.5", "margin1.0", "thr0", "thr1"]
    print("| model | set | queries | kept/query | precision kept | recall kept | precision keep-all | citation validity "
          "| ask wall p50 s | ask CPU p50 s | load | R@1 first stage | R@1 by judge logit |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for model, sets in data.items():
        for r in sets:
            rows = r["rows"]
            by_logit = statistics.fmean(float(max(_items(x), key=lambda t: t[1])[0]) for x in rows)
            print(f"| {model} | {r['set']} | {r['n_queries']} | {r['kept_per_query']:.1f} | {r['precision_kept']:.3f} "
                  f"| {r['recall_kept']:.3f} | {r['precision_keep_all']:.3f} | {r['citation_validity']} | {r['ask_s_p50']} "
                  f"| {r.get('ask_cpu_s_p50')} | {r.get('load_1min_mean')} | {r['R@1_before']:.3f} | {by_logit:.3f} |")
    print("\nKeep rules applied to the recorded logits (precision / recall, mean over queries):\n")
    print("| model | set | " + " | ".join(rules) + " |")
    print("|---|---|" + "---|" * len(rules))
    for model, sets in data.items():
        for r in sets:
            cells = []
            for rule in rules:
                pr = [keep_rule(_items(x), rule) for x in r["rows"]]
                cells.append(f"{statistics.fmean(p for p, _ in pr):.2f} / {statistics.fmean(q for _, q in pr):.2f}")
            print(f"| {model} | {r['set']} | " + " | ".join(cells) + " |")
    print("\nWorst misses (relevant item's logit far below the best distractor's):\n")
    for model, sets in data.items():
        misses = []
        for r in sets:
            for x in r["rows"]:
                items = _items(x)
                rel = [t for t in items if t[0]]
                bad = [t for t in items if not t[0]]
                if rel and bad:
                    gap = max(t[1] for t in bad) - max(t[1] for t in rel)
                    misses.append((gap, r["set"], x["query"], max(rel, key=lambda t: t[1]), max(bad, key=lambda t: t[1])))
        for gap, s, q, rel, bad in sorted(misses, reverse=True)[:4]:
            print(f"- {model} / {s}: \"{q}\" relevant {rel[1]:+.2f} [{rel[2][:90]}] vs distractor {bad[1]:+.2f} [{bad[2][:90]}]")


if __name__ == "__main__":
    main()
