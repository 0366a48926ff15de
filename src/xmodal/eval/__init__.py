"""Evaluation of retrieval on BEIR-layout sets (text-only or with media): metrics and reports.

    from xmodal.eval import evaluate, print_table, write_json, write_html
    result = evaluate("~/.cache/xmodal/sets/tuxpaint", split="test")
    print_table(result); write_json(result, "out.json"); write_html(result, "out.html", set_dir)
"""

from xmodal.data.beir import CorpusItem, EvalSet, Query, SetError, corpus_fingerprint, load_set
from xmodal.eval.metrics import evaluate_run, first_relevant_rank, metric_names, query_metrics, recall_curve
from xmodal.eval.report import print_table, recall_curve_svg, write_html, write_json
from xmodal.eval.runner import EvalResult, evaluate

__all__ = [
    "CorpusItem",
    "EvalResult",
    "EvalSet",
    "Query",
    "SetError",
    "corpus_fingerprint",
    "evaluate",
    "evaluate_run",
    "first_relevant_rank",
    "load_set",
    "metric_names",
    "print_table",
    "query_metrics",
    "recall_curve",
    "recall_curve_svg",
    "write_html",
    "write_json",
]
