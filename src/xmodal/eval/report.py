"""Show an evaluation: a Rich table, a JSON file, and one self-contained HTML page.

The HTML page has no external assets and no scripts: tables, an inline-SVG R@K curve per
stage, and a deterministic sample of failed queries with their top 5 results (images as
embedded JPEG thumbnails, small audio/video as data-URI players, larger media as file:// links).
"""

from __future__ import annotations

import base64
import html
import json
import math
import mimetypes
import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from xmodal.data.beir import CorpusItem, EvalSet, Query, inside, load_set
from xmodal.eval.metrics import first_relevant_rank, metric_names

MAX_INLINE_MEDIA = 1_000_000  # bytes: audio/video/SVG above this are linked, not embedded
THUMB_PX = 160
TOP_SHOWN = 5
_MEDIA_MIME = {".wav": "audio/wav", ".opus": "audio/ogg", ".oga": "audio/ogg", ".flac": "audio/flac",
               ".m4a": "audio/mp4", ".mkv": "video/x-matroska", ".ogv": "video/ogg"}
_STAGE_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]


def _ks(result: Mapping[str, Any]) -> list[int]:
    return list(result.get("ks") or (1, 5, 10, 100))


def _table_metrics(result: Mapping[str, Any]) -> list[str]:
    """Metric names present in the result, in display order."""
    names = metric_names(_ks(result))
    present = set()
    for stage in result.get("stages", {}).values():
        present.update(stage)
    return [n for n in names if n in present]


def _pair_metrics(result: Mapping[str, Any]) -> list[str]:
    return [n for n in _table_metrics(result) if not n.startswith("BEIR-")]


def _fmt(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "–"


# ---------------------------------------------------------------- terminal and JSON


def print_table(result: Mapping[str, Any], console: Any = None) -> None:
    """Print the overall metrics (a column per stage) and the per-pair metrics with Rich."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    stages = list(result.get("stages", {}))
    title = f"{result.get('set')} · {result.get('split')} · profile {result.get('profile')}"
    title += f" · {result.get('n_queries')} queries · {result.get('n_corpus')} items"
    console.print(title, style="bold", highlight=False, markup=False)  # wider than the table: not its title
    overall = Table()
    overall.add_column("metric")
    for stage in stages:
        overall.add_column(stage, justify="right")
    for name in _table_metrics(result):
        overall.add_row(name, *[_fmt(result["stages"][s].get(name)) for s in stages])
    console.print(overall)

    pairs = result.get("by_pair", {})
    if pairs:
        names = _pair_metrics(result)
        for stage in stages:  # one table per stage keeps each narrow
            # no rules and 3 decimals: the pair table still fits an 80-column terminal
            suffix = f" · {stage}" if len(stages) > 1 else ""
            table = Table(title=f"by query → corpus modality{suffix}", box=None, pad_edge=False)
            table.add_column("pair", no_wrap=True, min_width=max(len(p) for p in pairs))
            table.add_column("n", justify="right", no_wrap=True)
            for name in names:
                table.add_column(name, justify="right", no_wrap=True)
            for pair, entry in pairs.items():
                values = entry if stage == "retrieve" else entry.get(stage, {})
                table.add_row(pair, str(entry.get("n_queries", "")), *[_fmt(values.get(n), 3) for n in names])
            console.print(table)

    t = result.get("timing", {})
    line = f"index {t.get('index_s', 0):.1f} s" + (" (reused)" if t.get("index_reused") else "")
    line += f" · query p50 {t.get('query_p50_ms', 0):.1f} ms, p95 {t.get('query_p95_ms', 0):.1f} ms"
    if "rerank_query_p50_ms" in t:
        line += f" · with rerank p50 {t['rerank_query_p50_ms']:.1f} ms, p95 {t['rerank_query_p95_ms']:.1f} ms"
    console.print(line, highlight=False)
    n_failed = result.get("n_failed_items", len(result.get("failed_items", [])))
    if n_failed:
        console.print(f"[yellow]{n_failed} corpus item(s) failed to index[/yellow], e.g.:")
        for item in result.get("failed_items", [])[:5]:
            console.print(f"  {item.get('path') or item.get('id')}: {item.get('reason')}", highlight=False, markup=False)
    for note in result.get("warnings", []):
        console.print("warning: " + note, style="yellow", highlight=False, markup=False)


def write_json(result: Mapping[str, Any], path: str | Path) -> Path:
    """Write the result (the plain dict, without in-memory runs) as indented JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(result), indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- HTML pieces


def _metric_table_html(result: Mapping[str, Any]) -> str:
    stages = list(result.get("stages", {}))
    head = "".join(f"<th>{html.escape(s)}</th>" for s in stages)
    rows = "".join(
        f"<tr><td>{html.escape(n)}</td>"
        + "".join(f"<td class=num>{_fmt(result['stages'][s].get(n))}</td>" for s in stages)
        + "</tr>"
        for n in _table_metrics(result)
    )
    out = f"<table class=metrics><thead><tr><th>metric</th>{head}</tr></thead><tbody>{rows}</tbody></table>"
    pairs = result.get("by_pair", {})
    if pairs:
        names = _pair_metrics(result)
        head = "<th>pair</th><th>stage</th><th>n</th>" + "".join(f"<th>{html.escape(n)}</th>" for n in names)
        body = []
        for pair, entry in pairs.items():
            for s in stages:
                values = entry if s == "retrieve" else entry.get(s, {})
                body.append(
                    f"<tr><td>{html.escape(pair)}</td><td>{html.escape(s)}</td>"
                    f"<td class=num>{int(entry.get('n_queries', 0))}</td>"
                    + "".join(f"<td class=num>{_fmt(values.get(n))}</td>" for n in names)
                    + "</tr>"
                )
        out += f"<h3>By query → corpus modality</h3><table class=metrics><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return out


def recall_curve_svg(curves: Mapping[str, Sequence[float]], width: int = 640, height: int = 320) -> str:
    """An inline SVG of R@K against K (log scale), one line per stage."""
    left, right, top, bottom = 48, 120, 16, 36
    pw, ph = width - left - right, height - top - bottom
    max_k = max((len(c) for c in curves.values()), default=1)
    span = math.log10(max_k) if max_k > 1 else 1.0

    def x(k: int) -> float:
        return left + pw * (math.log10(k) / span if max_k > 1 else 0.0)

    def y(v: float) -> float:
        return top + ph * (1.0 - v)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="R@K curve">',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#999"/>',
    ]
    for v in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11">{v:.1f}</text>')
    for k in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000):
        if k > max_k:
            break
        parts.append(f'<line x1="{x(k):.1f}" x2="{x(k):.1f}" y1="{top}" y2="{top + ph}" stroke="#eee"/>')
        parts.append(f'<text x="{x(k):.1f}" y="{top + ph + 14}" text-anchor="middle" font-size="11">{k}</text>')
    parts.append(f'<text x="{left + pw / 2:.1f}" y="{height - 4}" text-anchor="middle" font-size="12">K (log scale)</text>')
    parts.append(f'<text x="12" y="{top + ph / 2:.1f}" transform="rotate(-90 12 {top + ph / 2:.1f})" text-anchor="middle" font-size="12">R@K</text>')
    for i, (stage, curve) in enumerate(curves.items()):
        colour = _STAGE_COLOURS[i % len(_STAGE_COLOURS)]
        points = " ".join(f"{x(k):.1f},{y(v):.1f}" for k, v in enumerate(curve, start=1))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"><title>{html.escape(stage)}</title></polyline>')
        ly = top + 16 + 18 * i
        parts.append(f'<line x1="{left + pw + 10}" x2="{left + pw + 30}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{left + pw + 34}" y="{ly + 4}" font-size="12">{html.escape(stage)}</text>')
    parts.append("</svg>")
    return "".join(parts)


class _MediaHtml:
    """Renders media files as embedded HTML, caching per path (items recur across queries).

    Only files inside the set folder `root` are shown or linked: the loader refuses paths that
    leave it, and the report checks again, so no outside file can end up inlined in the page."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._cache: dict[tuple[str, str], str] = {}

    def render(self, path: Path, modality: str) -> str:
        key = (str(path), modality)
        if key not in self._cache:
            self._cache[key] = self._render(path, modality)
        return self._cache[key]

    @staticmethod
    def _link(path: Path, label: str | None = None) -> str:
        uri = path.resolve().as_uri()
        return f'<a href="{html.escape(uri)}">{html.escape(label or path.name)}</a>'

    def _data_uri(self, path: Path, mime: str) -> str | None:
        try:
            if path.stat().st_size > MAX_INLINE_MEDIA:
                return None
            return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")
        except OSError:
            return None

    def _render(self, path: Path, modality: str) -> str:
        if not inside(self.root, path):
            return f"<span class=missing>not shown: {html.escape(str(path))} is outside the set folder</span>"
        if not path.exists():
            return f"<span class=missing>missing file {html.escape(str(path))}</span>"
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if modality == "image":
            if path.suffix.lower() == ".svg":  # Pillow cannot read SVG; browsers show it safely in <img>
                uri = self._data_uri(path, "image/svg+xml")
                if uri:
                    return f'<img class=thumb src="{uri}" alt="{html.escape(path.name)}">'
                return self._link(path)
            thumb = _jpeg_thumbnail(path)
            if thumb:
                return f'<img class=thumb src="data:image/jpeg;base64,{thumb}" alt="{html.escape(path.name)}">'
            return self._link(path)
        if modality in ("audio", "video"):
            # browsers want audio/wav, and Python's table lacks some containers
            mime = _MEDIA_MIME.get(path.suffix.lower(), mime)
            uri = self._data_uri(path, mime)
            if uri:
                return f'<{modality} controls preload="none" src="{uri}"></{modality}><br>' + self._link(path)
            return self._link(path)
        return self._link(path)


def _jpeg_thumbnail(path: Path) -> str | None:
    """Base64 JPEG of at most THUMB_PX on a side, or None when the file cannot be read as an
    image. Rendered in a decode worker under the per-file budgets, as indexing decodes it
    (transparent stamps on white, not black)."""
    from xmodal.errors import MediaError
    from xmodal.media.pool import shared_pool

    try:
        return base64.b64encode(shared_pool().thumbnail(path, "image", px=THUMB_PX)).decode("ascii")
    except MediaError:  # any unreadable image just becomes a link in the report
        return None


def _short(text: str, n: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _item_html(item: CorpusItem | None, doc_id: str, media: _MediaHtml) -> str:
    if item is None:
        return f"<div class=body><i>{html.escape(doc_id)} is not in the corpus</i></div>"
    parts = [f"<div class=meta>{html.escape(item.id)} · {html.escape(item.modality)}</div>"]
    if item.path is not None:
        parts.append(media.render(item.path, item.modality))
    text = item.index_text()
    if text:
        parts.append(f"<div class=text>{html.escape(_short(text))}</div>")
    return "<div class=body>" + "".join(parts) + "</div>"


def _query_html(q: Query, media: _MediaHtml) -> str:
    parts = [f"<div class=meta>query {html.escape(q.id)} · {html.escape(q.modality)}</div>"]
    if q.path is not None:
        media_mod = q.modality.split("+")[-1]
        parts.append(media.render(q.path, media_mod))
    if q.text:
        parts.append(f"<div class=qtext>{html.escape(_short(q.text, 500))}</div>")
    return "".join(parts)


def _failed_section(result: Mapping[str, Any], es: EvalSet, runs: Mapping[str, Any], n_failed: int) -> str:
    stage = "rerank" if "rerank" in runs else "retrieve"
    run = runs.get(stage, {})
    explained = (getattr(result, "explanations", None) or result.get("explanations") or {}).get(stage, {})
    failed = []
    for qid in sorted(es.qrels):
        if qid not in es.queries:
            continue
        ranking = [str(r[0]) for r in run.get(qid, [])]
        if first_relevant_rank(es.qrels[qid], ranking) != 1:
            failed.append(qid)
    total = len(es.qrels)
    head = f"<p>{len(failed)} of {total} queries have no relevant item at rank 1 ({html.escape(stage)} stage)."
    if not failed:
        return head + "</p>"
    # Deterministic: the same result always shows the same queries.
    sample = sorted(random.Random(0).sample(failed, min(n_failed, len(failed))))
    head += f" A fixed sample of {len(sample)}:</p>"
    media = _MediaHtml(es.root)
    cards = []
    for qid in sample:
        q = es.queries[qid]
        judged = es.qrels[qid]
        ranked = [(str(d), float(s)) for d, s in run.get(qid, [])]
        ranking = [d for d, _ in ranked]
        # the item that should have been found: highest grade, then the best-ranked, then by id
        expected = min(
            (d for d, s in judged.items() if s >= 1),
            key=lambda d: (-judged[d], ranking.index(d) if d in ranking else len(ranking), d),
        )
        rank = ranking.index(expected) + 1 if expected in ranking else None
        cells = []
        for pos, (doc, score) in enumerate(ranked[:TOP_SHOWN], start=1):
            cls = "hit" if judged.get(doc, 0) >= 1 else "miss"
            mark = " ✔ relevant" if cls == "hit" else ""
            why = explained.get(qid, {}).get(doc)
            cells.append(
                f"<td class={cls}><div class=rank>#{pos} · score {score:.4f}{mark}</div>"
                + _item_html(es.corpus.get(doc), doc, media)
                + (f"<div class=why>matched at: {html.escape(why)}</div>" if why else "")
                + "</td>"
            )
        where = f"found at rank {rank}" if rank else f"not in the top {len(ranking)}"
        cells.append(
            f"<td class=expected><div class=rank>should have found ({where}, grade {judged[expected]})</div>"
            + _item_html(es.corpus.get(expected), expected, media)
            + "</td>"
        )
        cards.append(
            f"<section class=fail><div class=query>{_query_html(q, media)}</div>"
            f"<table class=results><tr>{''.join(cells)}</tr></table></section>"
        )
    return head + "".join(cards)


_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222}
table.metrics{border-collapse:collapse;margin:8px 0 20px}
table.metrics td,table.metrics th{border:1px solid #ccc;padding:3px 8px}
td.num{text-align:right;font-variant-numeric:tabular-nums}
section.fail{border-top:1px solid #ccc;padding:10px 0}
.why{font-size:11px;color:#555;margin-top:4px}
.query{margin-bottom:6px}.qtext{font-size:1.05em;font-weight:600}
table.results td{vertical-align:top;width:170px;padding:4px;border:2px solid #eee}
td.hit{border-color:#2ca02c!important}td.expected{border-color:#ff7f0e!important;background:#fff7ee}
.rank{font-size:.8em;color:#555}.meta{font-size:.75em;color:#777}.text{font-size:.85em}
img.thumb{max-width:160px;max-height:160px;display:block}audio,video{max-width:165px}
.missing{color:#b00}
"""


def write_html(result: Mapping[str, Any], path: str | Path, set_dir: str | Path, n_failed: int = 12) -> Path:
    """Write one self-contained HTML report: tables, R@K curves, and a sample of failed queries.

    Rankings come from the in-memory `result.runs` that `evaluate` attaches, or from
    `result["runs"]` (a JSON written with include_runs=True); without either the failed-query
    section says so. `set_dir` is read for the queries' and items' text and media.
    """
    path = Path(path)
    es = getattr(result, "eval_set", None)
    if es is None or Path(es.root) != Path(set_dir).expanduser().resolve():
        es = load_set(set_dir, result.get("split", "test"))
    runs = getattr(result, "runs", None) or result.get("runs") or {}

    title = f"xmodal eval · {result.get('set')} · {result.get('split')}"
    t = result.get("timing", {})
    summary = (
        f"profile <b>{html.escape(str(result.get('profile')))}</b> · {int(result.get('n_queries', 0))} queries · "
        f"{int(result.get('n_corpus', 0))} corpus items"
        f" ({html.escape(', '.join(f'{m}: {n}' for m, n in result.get('corpus_modalities', {}).items()))})"
        f" · index {float(t.get('index_s', 0)):.1f} s · query p50 {float(t.get('query_p50_ms', 0)):.1f} ms,"
        f" p95 {float(t.get('query_p95_ms', 0)):.1f} ms"
    )
    body = [f"<h1>{html.escape(title)}</h1><p>{summary}</p>", "<h2>Metrics</h2>", _metric_table_html(result)]
    curves = result.get("recall_curve") or {}
    if curves:
        body += ["<h2>R@K</h2>", "<p>Fraction of queries with at least one relevant item in the top K.</p>",
                 recall_curve_svg(curves)]
    n_items_failed = int(result.get("n_failed_items", len(result.get("failed_items", []))))
    if n_items_failed:
        rows = "".join(
            f"<li>{html.escape(str(f.get('path') or f.get('id')))}: {html.escape(str(f.get('reason')))}</li>"
            for f in result.get("failed_items", [])
        )
        body.append(f"<h2>Corpus items that failed to index ({n_items_failed})</h2><ul>{rows}</ul>")
    if result.get("warnings"):
        body.append("<h2>Warnings</h2><ul>" + "".join(f"<li>{html.escape(w)}</li>" for w in result["warnings"]) + "</ul>")
    body.append("<h2>Failed queries</h2>")
    if runs:
        body.append(_failed_section(result, es, runs, n_failed))
    else:
        body.append("<p>No rankings in this result (write the JSON with include_runs=True to keep them).</p>")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    doc = (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        + "".join(body)
        + f"<footer><p class=meta>written {stamp}</p></footer></body></html>\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, encoding="utf-8")
    return path
