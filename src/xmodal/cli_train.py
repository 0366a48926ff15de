"""`xmodal train …`: learn bindings from paired data (mounted by cli.py as the `train` group)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

train_app = typer.Typer(no_args_is_help=True, help="Train heads that bind a modality's encoder into the shared space.")
err = Console(stderr=True)


@train_app.callback()
def _group() -> None:
    """Train heads that bind a modality's encoder into the shared space."""


@train_app.command("bind")
def bind(
    pairs: list[str] = typer.Option(..., "--pairs", "-p", help="SET_DIR[:split] (BEIR layout; split defaults to train), "
                                    "pairs.jsonl ({text, path} lines), openclipart[:N] or scratch-sounds. Repeatable."),
    modality: str = typer.Option("image", "--modality", "-m", help="image or audio (video and documents reuse these heads)."),
    out: Path = typer.Option(..., "--out", "-o", help="Binding folder to write (binding.json, weights.npz, training log and plot)."),
    head: str = typer.Option("linear", help="linear (pooled features) or attn (+ attention pooling over regions/blocks)."),
    profile: str = typer.Option("default", help="Encoder profile whose features are bound."),
    name: Optional[str] = typer.Option(None, help="Binding name (default: MODALITY-HEAD)."),
    add_to: Optional[Path] = typer.Option(None, "--add-to", help="Keep the other heads of this existing binding folder."),
    epochs: int = typer.Option(60, help="Most epochs (early stopping on validation R@10 usually ends sooner)."),
    hard_negatives: int = typer.Option(3, help="Hard negatives per text from the model's own retrieval (0 = off)."),
    mixup: float = typer.Option(0.5, help="Weight of the FuseMix latent-mixup loss (0 = off)."),
    seed: int = typer.Option(0, help="Random seed."),
    device: Optional[str] = typer.Option(None, help="torch device (default: cuda when available, else cpu)."),
) -> None:
    """Train a MODALITY head on cached frozen features and save the binding to OUT."""
    from .bind.train import train_binding
    from .errors import XModalError

    try:
        b = train_binding(pairs, modality, out, profile=profile, head=head, name=name, add_to=add_to,
                          progress=lambda s: err.print(s, highlight=False), epochs=epochs,
                          hard_negatives=hard_negatives, mixup=mixup, seed=seed, device=device)
    except XModalError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1)
    run = b.run  # type: ignore[attr-defined]
    err.print(f"[bold green]saved[/] {out}: {modality} head {head}, alpha {run['alpha']:.2f}, "
              f"val R@10 bridge {run['val_R@10_bridge_macro']:.3f} -> binding {run['val_R@10_binding_macro']:.3f} "
              f"(best epoch {run['best_epoch']}, {run['seconds']:.0f} s on {run['device']})")
