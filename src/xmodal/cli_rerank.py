"""`xmodal train rerank`: train the cross-modal attention reranker (mounted under `train`).

    xmodal train rerank --pairs tuxpaint-t2i:train --pairs ~/sets/mine:train --out my-reranker
    xmodal search "a red car" --rerank attention        # with $XMODAL_RERANK_ATTENTION=my-reranker
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

rerank_train_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Train rerankers.")


@rerank_train_app.callback()
def _group() -> None:
    """Train rerankers (a group even with one command, so `train rerank` is spelled the same
    whether this app is mounted with add_typer or run on its own)."""


@rerank_train_app.command("rerank")
def rerank(
    pairs: list[str] = typer.Option(..., "--pairs", help="SET_DIR:split (or a set name from `xmodal data list`, split defaults to train); repeatable."),
    out: Path = typer.Option(..., "--out", help="Folder for the artifact (reranker.json + weights.npz)."),
    profile: str = typer.Option("default", help="Encoder profile the indexes are built with; the reranker serves indexes of this profile."),
    depth: int = typer.Option(50, help="First-stage list depth to mine hard negatives from (use the rerank depth you search with)."),
    epochs: int = typer.Option(12, help="Passes over the training lists; the best epoch on validation is kept."),
    val_frac: float = typer.Option(0.2, help="Share of training queries held out to pick the epoch and the fusion weight."),
    seed: int = typer.Option(0, help="Seed for the split, sampling and initialisation."),
    max_minutes: float = typer.Option(20.0, help="Stop after the epoch that passes this wall time."),
    json_out: bool = typer.Option(False, "--json", help="Print the artifact's metadata as JSON."),
) -> None:
    """Train the attention reranker on hard negatives mined from xmodal's own first stage."""
    import logging

    from rich.console import Console

    from .errors import XModalError
    from .rerank.train import FitConfig, train_from_sets

    console = Console()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # one line per clip otherwise
    if not 0.0 <= val_frac < 1.0:
        console.print(f"[red]error:[/] --val-frac must be in [0, 1), got {val_frac}")
        raise typer.Exit(2)
    cfg = FitConfig(epochs=epochs, val_frac=val_frac, seed=seed, max_minutes=max_minutes)
    try:
        info = train_from_sets(pairs, out, profile=profile, depth=depth, cfg=cfg)
    except XModalError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    if json_out:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    m = info["metrics"]
    console.print(f"[green]reranker[/] → {out}  (fusion weight {info['fusion_weight']:.2f}, best epoch {m['best_epoch']})")
    for name, vals in (("validation, first stage", m["val_first_stage"]), ("validation, reranked", m["val_reranked"])):
        console.print(f"  {name}: " + "  ".join(f"{k} {v:.3f}" for k, v in vals.items()))
    console.print(f"use it: XMODAL_RERANK_ATTENTION={out} xmodal search QUERY --rerank attention")
