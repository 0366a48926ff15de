"""`xmodal train …`: learn bindings and rerankers from paired data (mounted as the `train` group).

    xmodal train bind --pairs tuxpaint-t2i:train --modality image --out my-binding
    xmodal train rerank --pairs tuxpaint-t2i:train --pairs ~/sets/mine:train --out my-reranker
    xmodal train rerank-av --pairs tuxpaint-av:train --artifact my-reranker   # its audio-visual branch
    xmodal search "a red car" --rerank attention        # with $XMODAL_RERANK_ATTENTION=my-reranker
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

train_app = typer.Typer(no_args_is_help=True, help="Train bindings (heads into the shared space) and rerankers.")
err = Console(stderr=True)


@train_app.callback()
def _group() -> None:
    """Train bindings (heads into the shared space) and rerankers."""


@train_app.command("bind")
def bind(
    pairs: list[str] = typer.Option(..., "--pairs", "-p", help="SET_DIR[:split] (BEIR layout; split defaults to train), "
                                    "pairs.jsonl ({text, path} lines), openclipart[:N], scratch-images, scratch-sounds, "
                                    "sound-bank, or a named training source NAME[:N] (emojione, noto-emoji, icon-themes, "
                                    "flags, wesnoth, game-sfx, opensfx; N items per caption). Repeatable."),
    modality: str = typer.Option("image", "--modality", "-m", help="image or audio (video and documents reuse these heads)."),
    out: Path = typer.Option(..., "--out", "-o", help="Binding folder to write (binding.json, weights.npz, training log and plot)."),
    head: str = typer.Option("linear", help="linear (pooled features), mlp (+ a residual MLP, see --hidden) or attn "
                             "(+ attention pooling over regions/blocks)."),
    hidden: int = typer.Option(1024, help="Hidden width of the mlp head."),
    weight_decay: float = typer.Option(0.5, help="AdamW weight decay of the head's maps."),
    dropout: float = typer.Option(0.5, help="Feature dropout."),
    no_dedup_names: bool = typer.Option(False, "--keep-eval-names", help="Keep pairs whose caption names an evaluation "
                                        "test caption (same files and pictures/sounds are always dropped)."),
    profile: str = typer.Option("default", help="Encoder profile whose features are bound."),
    name: Optional[str] = typer.Option(None, help="Binding name (default: MODALITY-HEAD)."),
    add_to: Optional[Path] = typer.Option(None, "--add-to", help="Keep the other heads of this existing binding folder."),
    epochs: int = typer.Option(60, help="Most epochs; stops after 10 epochs without a gain in validation nDCG@10 (macro over the query sets, at the best allowed alpha) and keeps the best epoch."),
    hard_negatives: int = typer.Option(3, help="Hard negatives per text from the model's own retrieval (0 = off)."),
    mixup: float = typer.Option(0.5, help="Weight of the FuseMix latent-mixup loss (0 = off)."),
    seed: int = typer.Option(0, help="Random seed."),
    device: Optional[str] = typer.Option(None, help="torch device (default: cuda when available, else cpu)."),
) -> None:
    """Train a MODALITY head on cached frozen features and save the binding to OUT."""
    from xmodal.train.bind import train_binding
    from xmodal.errors import XModalError

    try:
        b = train_binding(pairs, modality, out, profile=profile, head=head, name=name, add_to=add_to,
                          progress=lambda s: err.print(s, highlight=False), epochs=epochs,
                          hard_negatives=hard_negatives, mixup=mixup, seed=seed, device=device, hidden=hidden,
                          weight_decay=weight_decay, dropout=dropout, dedup_names=not no_dedup_names)
    except XModalError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1)
    run = b.run  # type: ignore[attr-defined]
    err.print(f"[bold green]saved[/] {out}: {modality} head {head}, alpha {run['alpha']:.2f}, "
              f"val R@10 bridge {run['val_R@10_bridge_macro']:.3f} -> binding {run['val_R@10_binding_macro']:.3f} "
              f"(best epoch {run['best_epoch']}, {run['seconds']:.0f} s on {run['device']})")


@train_app.command("rerank")
def rerank(
    pairs: list[str] = typer.Option(..., "--pairs", help="SET_DIR:split (or a set name from `xmodal data list`, split defaults to train); repeatable."),
    out: Path = typer.Option(..., "--out", help="Folder for the artifact (reranker.json + weights.npz)."),
    profile: str = typer.Option("default", help="Encoder profile the indexes are built with; the reranker serves indexes of this profile."),
    depth: int = typer.Option(50, help="First-stage list depth to mine hard negatives from (use the rerank depth you search with)."),
    epochs: int = typer.Option(12, help="Passes over the training lists; the best epoch on validation is kept."),
    val_frac: float = typer.Option(0.2, help="Share of caption groups held out to pick the epoch and the fusion weight (a caption is on one side in every set)."),
    seed: int = typer.Option(0, help="Seed for the split, sampling and initialisation."),
    max_minutes: float = typer.Option(20.0, help="Stop after the epoch that passes this wall time."),
    json_out: bool = typer.Option(False, "--json", help="Print the artifact's metadata as JSON."),
) -> None:
    """Train the attention reranker on hard negatives mined from xmodal's own first stage."""
    import logging

    from rich.console import Console

    from xmodal.errors import XModalError
    from xmodal.train.rerank import FitConfig, train_from_sets

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


@train_app.command("rerank-av")
def rerank_av(
    pairs: list[str] = typer.Option(..., "--pairs", help="SET_DIR:split (or a set name, e.g. tuxpaint-av:train) with text → video queries; repeatable."),
    artifact: Path = typer.Option(..., "--artifact", help="The attention-reranker folder to add the audio-visual branch to (writes av.json there)."),
    profile: str = typer.Option("default", help="Encoder profile the indexes are built with."),
    depth: int = typer.Option(50, help="First-stage list depth (use the rerank depth you search with)."),
    epochs: int = typer.Option(60, help="Passes over the training lists; the best epoch on validation is kept."),
    seed: int = typer.Option(0, help="Seed for the validation split and the order of the lists."),
) -> None:
    """Train the reranker's audio-visual branch: text queries over videos' aligned sound and picture."""
    from rich.console import Console

    from xmodal.errors import XModalError
    from xmodal.train.rerank_av import AVFitConfig, train_av

    console = Console()
    try:
        info = train_av(pairs, artifact, profile=profile, depth=depth, cfg=AVFitConfig(epochs=epochs, seed=seed))
    except XModalError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    m = info["metrics"]
    console.print(f"[green]audio-visual branch[/] → {info['out']}  (fusion weight {info['fusion_weight']:.2f}, "
                  f"best epoch {m['best_epoch']}, validation R@1+MRR@10 {m['val_first_stage_R1+MRR']:.3f} → "
                  f"{m['val_reranked_R1+MRR']:.3f})")
