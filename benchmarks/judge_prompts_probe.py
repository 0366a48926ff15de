"""Does a judge's yes/no score carry signal under another prompt? A probe on recorded lists.

    .venv/bin/python benchmarks/judge_prompts_probe.py benchmarks/results/refine-judges.json \
        --models smollm2,qwen2.5-coder-0.5b --n 8

Reads the query lists that `refine_eval.py` recorded (each query's 10 first-stage items with
their evidence, cut to 120 characters, and which are relevant) and asks each model the
pointwise yes/no question under each prompt below. Reports, per prompt: R@1 when the 10 items
are ordered by the judge's logit (the first stage's R@1 is the bar), and AUC (the chance that a
relevant item outscores a distractor; 0.5 = no signal). No keep rule is involved.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from xmodal.llm.llamacpp import LlamaCppBackend
from xmodal.refine.prompts import PROMPTS

PROBES = {
    "shipped": (PROMPTS["system"], PROMPTS["judge"]),
    "match": ("You judge whether a retrieved item matches a search.",
              "Search: {question}\nItem ({modality}), described by what was extracted from it: {item}\n"
              "Does the item match the search? Answer yes or no."),
    "shows": ("You are a careful assistant.",
              "A {modality} was described automatically as: {item}\n"
              "Is it {question_lc}? Answer yes or no."),
}


def _modality(evidence: str) -> str:
    return "sound" if evidence.startswith(("sound", "transcript")) else "picture"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("results", type=Path)
    ap.add_argument("--models", default="smollm2,qwen2.5-coder-0.5b")
    ap.add_argument("--prompts", default=",".join(PROBES))
    ap.add_argument("--n", type=int, default=8, help="queries per set")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    recorded = json.loads(args.results.read_text())
    lists = []  # (set, query, [(relevant, evidence)])
    for per_set in next(iter(recorded.values())):
        for row in per_set["rows"][: args.n]:
            items = [(bool(rel), ev) for rel, _, ev in row["kept_evidence"] + row["dropped_evidence"]]
            lists.append((per_set["set"], row["query"], items))
    out: dict[str, dict[str, dict[str, float]]] = {}
    for model in args.models.split(","):
        llm = LlamaCppBackend(model=model, threads=args.threads)
        for name in args.prompts.split(","):
            system, user = PROBES[name]
            r1, aucs, t0 = [], [], time.process_time()
            for _, query, items in lists:
                q_lc = query.rstrip(".!? ").lower()
                scores = []
                for rel, ev in items:
                    msg = user.format(question=query, question_lc=q_lc, item=ev, modality=_modality(ev))
                    lg = llm.yes_no([{"role": "system", "content": system}, {"role": "user", "content": msg}], timeout_s=600)
                    scores.append((lg if lg is not None else -99.0, rel))
                r1.append(float(max(scores)[1]))
                pos = [s for s, rel in scores if rel]
                neg = [s for s, rel in scores if not rel]
                aucs.append(statistics.fmean(float(p > n_) + 0.5 * float(p == n_) for p in pos for n_ in neg))
            cpu = (time.process_time() - t0) / sum(len(items) for *_, items in lists)
            out.setdefault(model, {})[name] = {"R@1_by_logit": round(statistics.fmean(r1), 3),
                                               "AUC": round(statistics.fmean(aucs), 3), "cpu_s_per_item": round(cpu, 2),
                                               "queries": len(lists)}
            print(model, name, out[model][name], flush=True)
    print("\n| model | prompt | queries | R@1 by judge logit | AUC | CPU s per item |\n|---|---|---|---|---|---|")
    for model, per in out.items():
        for name, m in per.items():
            print(f"| {model} | {name} | {m['queries']} | {m['R@1_by_logit']:.3f} | {m['AUC']:.3f} | {m['cpu_s_per_item']} |")
    if args.out:
        args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
