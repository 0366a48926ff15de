"""`xmodal ask`: retrieve → rerank → refine, with a cited answer. Registered by `xmodal.cli`:

    from xmodal.cli.ask import ask
    app.command("ask")(ask)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from xmodal.cli.index_uri import index_option, missing_index
from xmodal.cli.output import line, plain

MODALITIES = ["text", "image", "audio", "video", "document"]


def ask(
    question: Optional[str] = typer.Argument(None, help="The question (may be combined with --file)."),
    index: str = index_option(),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="Ask with an example file (image, sound, video, document, text)."),
    modality: list[str] = typer.Option([], "--modality", "-m", help="Only these modalities (repeatable)."),
    k: int = typer.Option(10, "--k", "-k", help="How many retrieved items the refiner judges."),
    rerank: Optional[str] = typer.Option(None, "--rerank", help="Rerank first (attention, llm)."),
    refiner: str = typer.Option("llm", "--refiner", help="llm, or none (evidence only, no LLM)."),
    backend: str = typer.Option("llamacpp", "--backend", help="LLM backend: llamacpp, openai, transformers-vlm."),
    model: Optional[str] = typer.Option(None, "--model", help="llamacpp: smollm2 | qwen2.5-coder-0.5b | a .gguf; openai: model name; transformers-vlm: a local folder."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="openai backend: the endpoint, e.g. http://127.0.0.1:8080/v1 ($OPENAI_BASE_URL)."),
    mode: str = typer.Option("auto", "--mode", help="auto, pointwise (yes/no per item) or json (one call)."),
    time_budget: float = typer.Option(30.0, "--time-budget", help="Seconds for the refine stage."),
    no_augment: bool = typer.Option(False, "--no-augment", help="Do not run OCR / speech recognition on items lacking text."),
    json_out: bool = typer.Option(False, "--json", help="Print the RefinedAnswer as JSON (schema: --schema)."),
    schema: bool = typer.Option(False, "--schema", help="Print the JSON schema of the output and exit."),
) -> None:
    """Ask a question: retrieve, rerank, and let an LLM keep what fits and answer with citations."""
    from xmodal.refine import RefinedAnswer

    console, err = Console(emoji=False), Console(stderr=True, emoji=False)  # user text may hold ":smile:"
    if schema:
        print(json.dumps(RefinedAnswer.model_json_schema(), indent=2))
        return

    def fail(msg: str) -> None:
        err.print(line(("error: ", "bold red"), msg))
        raise typer.Exit(1)

    bad = [m for m in modality if m not in MODALITIES]
    if bad:
        fail(f"unknown modality {', '.join(bad)}; choose from {', '.join(MODALITIES)}")
    if not question and file is None:
        fail("give a question, --file, or both")
    problem = missing_index(index)
    if problem:
        fail(problem)
    from xmodal.engine import Index
    from xmodal.errors import XModalError
    from xmodal.engine.ask import ask as run_ask

    opts: dict = {}
    if refiner == "llm":
        backend_options = {"base_url": base_url} if base_url else {}
        opts = dict(backend=backend, model=model, mode=mode, time_budget_s=time_budget, augment=not no_augment,
                    backend_options=backend_options)
    try:
        idx = Index(index)
        ans = run_ask(idx, question, file=file, k=k, modalities=modality or None, rerank=rerank, refiner=refiner, **opts)
    except (XModalError, KeyError, ValueError) as exc:
        fail(str(exc))
    if json_out:
        print(ans.model_dump_json(indent=2))
        return
    _print(console, ans)


def _print(console: Console, ans) -> None:
    from rich.markup import escape as _markup_escape
    from rich.table import Table

    def escape(value: str) -> str:  # indexed text, paths and LLM output: no markup, no control characters
        return _markup_escape(plain(value))

    if ans.answer:
        console.print(f"[bold]answer:[/] {_markup_escape(plain(ans.answer, prose=True))}")
    table = Table(title=f"kept {len(ans.kept)}", title_justify="left")
    for col in ("n", "modality", "path", "evidence", "reason"):
        table.add_column(col, overflow="fold", max_width=50 if col in ("path", "evidence") else None)
    for it in ans.kept:
        ev = "; ".join(e.describe() for e in it.evidence[:3])
        table.add_row(f"[{it.n}]", it.modality, escape(it.path or it.id), escape(ev[:150]), escape(it.reason[:120]))
    console.print(table)
    if ans.dropped:
        console.print(f"[bold]dropped {len(ans.dropped)}[/]")
        for it in ans.dropped:
            console.print(f"  [dim]✗ {escape(it.path or it.id)}: {escape(it.reason[:140])}[/]")
    for note in ans.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    t = ans.timings
    if t:
        console.print(f"[dim]{t.get('ask_s', t.get('total_s', 0.0)):.2f} s ({', '.join(f'{k} {v:.2f}' for k, v in t.items() if k != 'ask_s')})[/]")
