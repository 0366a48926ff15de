"""What each training source, head kind and sound bank adds, on sets no training data came from.

    # image heads: add-one-source and leave-one-source-out ablations, head kinds
    .venv/bin/python benchmarks/bind_sources.py --modality image --out benchmarks/results/bind-sources-image.json
    .venv/bin/python benchmarks/bind_sources.py --modality image --configs base,all,all-mlp1024
    # audio heads, with the sound bank a config names: the shipped (Scratch) bank, or "all", the
    # 526-sound bank of Scratch + game-sfx + opensfx, built once into xmodal's cache with
    #   xmodal data sound-bank --sources scratch,game-sfx,opensfx --out ~/.cache/xmodal/bench/sound-bank-all
    .venv/bin/python benchmarks/bind_sources.py --modality audio --out benchmarks/results/bind-sources-audio.json
    # a binding trained with `xmodal train bind` (its head for the modality, not retrained)
    .venv/bin/python benchmarks/bind_sources.py --modality image --binding new=BIND --configs shipped

Each config trains one head with the trainer itself (`xmodal.train.bind.fit_head`: validation on
about a quarter of the caption groups, early stopping and alpha chosen there), on its sources
after `drop_eval_duplicates` (no evaluation file or picture/sound, no pair naming an evaluation
test caption). It is then scored on the test split of every evaluation set of the modality,
on cached features: the set's whole corpus, its text queries, R@1 and R@10 as `xmodal eval`
reports them (a relevant item in the top k) and nDCG@10, vector search only (no BM25 bonus, no
reranker), the bridge alone as reference. `tuxpaint-*` sets are Tux Paint's own test halves
(their train halves are training data); every other set is a whole held-out source.
Features are cached (`xmodal.train.pairs`), so a config costs its training time: seconds to a
few minutes. The full pipeline's figures for the chosen binding come from `bind_eval.py`.

Audio features depend on the bank (it makes the bridge vector), so a new bank means new
features; Whisper transcripts and aisfx block embeddings are memoised on disk by the audio's
content here (`--no-memo` turns that off), so that costs seconds, not a Whisper pass.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.bind.heads import combine_residual
from xmodal.config import cache_dir
from xmodal.data.dedup import EVAL_SETS
from xmodal.data.sets import build_set
from xmodal.eval.metrics import ndcg_at, success_at
from xmodal.space import Space
from xmodal.train.bind import TrainConfig, fit_head
from xmodal.train.pairs import (
    _cached_features,
    drop_eval_duplicates,
    eval_corpus_source,
    features_for,
    parse_source,
    sound_bank_source,
)
from xmodal.types import Modality

OLD = ["set:tuxpaint-t2i:train", "scratch-images", "openclipart:3000"]  # the data of the binding shipped before
NEW_IMAGE = ["noto-emoji", "emojione", "icon-themes", "flags", "wesnoth"]


def _image_configs() -> dict[str, dict[str, Any]]:
    c: dict[str, dict[str, Any]] = {"shipped": {"shipped": True}, "base": {"sources": OLD}}
    for s in NEW_IMAGE:
        c[f"base+{s}"] = {"sources": OLD + [s]}
    c["all"] = {"sources": OLD + NEW_IMAGE}
    for s in NEW_IMAGE + ["openclipart:3000"]:
        c[f"all-{s.split(':')[0]}"] = {"sources": [x for x in OLD + NEW_IMAGE if x != s]}
    c["all:keep-eval-names"] = {"sources": OLD + NEW_IMAGE, "dedup_names": False}
    for h in (512, 1024, 2048):
        c[f"all:mlp{h}"] = {"sources": OLD + NEW_IMAGE, "head": "mlp", "train": {"hidden": h}}
    c["all:wd0.1"] = {"sources": OLD + NEW_IMAGE, "train": {"weight_decay": 0.1}}
    c["all:mlp1024-wd0.1"] = {"sources": OLD + NEW_IMAGE, "head": "mlp", "train": {"hidden": 1024, "weight_decay": 0.1}}
    return c


def _audio_configs() -> dict[str, dict[str, Any]]:
    t2a = "set:tuxpaint-t2a:train"
    return {
        "shipped": {"bank": "shipped", "shipped": True},  # the default: Scratch bank + its head
        "shipped-head:bank": {"bank": "all", "shipped": True},  # that head over the 526-sound bank
        "scratch-bank": {"bank": "shipped", "sources": [t2a, "sound-bank"]},
        "bank": {"bank": "all", "sources": [t2a, "sound-bank"]},
        "bank:keep-eval-names": {"bank": "all", "sources": [t2a, "sound-bank"], "dedup_names": False},
        "bank:mlp512": {"bank": "all", "sources": [t2a, "sound-bank"], "head": "mlp", "train": {"hidden": 512}},
        "bank-minus-t2a": {"bank": "all", "sources": ["sound-bank"]},
        "bank:old-sources": {"bank": "all", "sources": [t2a, "scratch-sounds"]},  # the shipped head's recipe
    }


CONFIGS = {"image": _image_configs, "audio": _audio_configs}


# ------------------------------------------------------------------------------ audio memo
def _memoise_audio(folder: Path) -> None:
    """Whisper transcripts and aisfx blocks by audio content, on disk (benchmark-only shortcut)."""
    from xmodal.encode.audio import SpeechSoundAudioEncoder
    from xmodal.encode.sound_bank import AisfxEmbedder

    def memo(cls, name: str, kind: str) -> None:
        orig = getattr(cls, name)
        (folder / kind).mkdir(parents=True, exist_ok=True)

        def wrapped(self, audio, sample_rate=16000):
            a = np.ascontiguousarray(audio, dtype=np.float32)
            key = hashlib.sha1(a.tobytes() + str(sample_rate).encode() + kind.encode()).hexdigest()
            path = folder / kind / f"{key}.pkl"
            if path.is_file():
                return pickle.loads(path.read_bytes())
            out = orig(self, audio, sample_rate)
            path.write_bytes(pickle.dumps(out))
            return out

        setattr(cls, name, wrapped)

    memo(SpeechSoundAudioEncoder, "transcribe", "whisper")
    memo(AisfxEmbedder, "embed_blocks", "aisfx")


def _space(modality: str, bank: str | None) -> Space:
    space = Space("default", binding="none")
    if modality == "audio" and bank not in (None, "shipped"):
        from xmodal.encode.sound_bank import SoundBank

        path = Path(bank) if bank != "all" else _all_bank_path()
        enc = space.encoder(Modality.AUDIO)
        enc._bank_arg, enc._bank_ready = SoundBank.load(path), False  # noqa: SLF001 - benchmark override
    return space


def _all_bank_path() -> Path:
    """The 526-sound aisfx bank (Scratch + game-sfx + opensfx; measured, not shipped), kept in the cache."""
    path = cache_dir("bench", "sound-bank-all") / "aisfx-0.1.2-librosa-mean.npz"
    if not path.is_file():
        sys.exit(f"{path} missing: build it with "
                 f"`xmodal data sound-bank --sources scratch,game-sfx,opensfx --out {path.parent}`")
    return path


# ------------------------------------------------------------------------------ scoring
def _eval_data(space: Space, modality: str) -> dict[str, Any]:
    out = {}
    for name in EVAL_SETS[modality]:
        src = eval_corpus_source(build_set(name), modality)
        out[name] = _cached_features(space, src, modality, refresh=False,
                                     progress=lambda i, n, name=name: print(f"  eval {name} {i}/{n}", file=sys.stderr)
                                     if i % 128 == 0 or i == n else None)
    return out


def score(data, vecs: np.ndarray) -> dict[str, float]:
    """R@1, R@10 (a relevant item in the top k) and nDCG@10 of the set's text queries over its corpus."""
    f, src = data.feats, data.source
    ok = np.flatnonzero(f.ok)
    rel: dict[int, set[int]] = {}
    for t, i in src.pairs:
        rel.setdefault(t, set()).add(i)
    sims = f.text_vecs @ vecs[ok].T
    m: dict[str, list[float]] = {"R@1": [], "R@10": [], "nDCG@10": []}
    for t in sorted(rel):
        order = ok[np.argsort(-sims[t])]
        gains = np.isin(order, list(rel[t])).astype(np.float64)
        m["R@1"].append(success_at(gains, 1))
        m["R@10"].append(success_at(gains, 10))
        m["nDCG@10"].append(ndcg_at(gains, [1.0] * len(rel[t]), 10))
    return {k: round(float(np.mean(v)), 4) for k, v in m.items()} | {"queries": len(rel)}


def evaluate_binding(binding, modality: str, evals: dict[str, Any]) -> dict[str, dict[str, float]]:
    out = {}
    for name, data in evals.items():
        f = data.feats
        if binding is None:
            vecs = f.bridge
        else:
            h = binding.heads[modality]
            head = binding.head_outputs(modality, f.pooled.astype(np.float32))
            vecs = combine_residual(f.bridge, head, float(h["alpha"]), f.gate)
        out[name] = score(data, vecs)
    return out


def _resolve(spec: str, modality: str):
    if spec.startswith("set:"):
        name, _, split = spec[4:].partition(":")
        return parse_source(f"{build_set(name)}:{split or 'train'}", modality)
    return parse_source(spec, modality)


def run_config(name: str, cfg: dict[str, Any], modality: str, space: Space, evals) -> dict[str, Any]:
    t0 = time.perf_counter()
    if cfg.get("shipped") or cfg.get("binding"):  # a trained binding (default: the shipped one), not retrained
        from xmodal.bind import default_binding_path, load_binding

        binding = load_binding(cfg.get("binding") or default_binding_path())
        return {"config": cfg, "sets": evaluate_binding(binding, modality, evals),
                "alpha": float(binding.heads[modality]["alpha"]), "seconds": round(time.perf_counter() - t0, 1)}
    data = []
    for spec in cfg["sources"]:
        src = sound_bank_source(space.encoder(Modality.AUDIO).bank) if spec == "sound-bank" else _resolve(spec, modality)
        d = features_for(space, src, modality, progress=lambda i, n, s=spec: print(f"  {s} {i}/{n}", file=sys.stderr)
                         if i % 256 == 0 or i == n else None)
        data.append(drop_eval_duplicates(space, d, modality, names=cfg.get("dedup_names", True)))
    tc = TrainConfig(head=cfg.get("head", "linear"), **cfg.get("train", {}))
    binding, run = fit_head(data, modality, tc, encoder_config=space.encoder(Modality(modality)).config(), name=name)
    res = evaluate_binding(binding, modality, evals)
    return {"config": cfg, "sets": res, "alpha": run["alpha"], "best_epoch": run["best_epoch"],
            "n_pairs": run["n_pairs"], "n_items": run["n_items"],
            "val_nDCG@10": [run["val_nDCG@10_bridge_macro"], run["val_nDCG@10_binding_macro"]],
            "val_R@1": [run["val_R@1_bridge_macro"], run["val_R@1_binding_macro"]],
            "val_R@10": [run["val_R@10_bridge_macro"], run["val_R@10_binding_macro"]],
            "sources": [{"name": d.source.name, "pairs": len(d.source.pairs), "dedup": d.source.dedup} for d in data],
            "train_seconds": run["seconds"], "seconds": round(time.perf_counter() - t0, 1)}


def heldout_mean(res: dict[str, dict[str, float]], metric: str) -> float:
    vals = [m[metric] for s, m in res.items() if not s.startswith("tuxpaint")]
    return round(float(np.mean(vals)), 4) if vals else float("nan")


def table(results: dict[str, Any], sets: list[str]) -> str:
    short = [s.replace("-t2i", "").replace("-t2a", "") for s in sets]
    lines = ["| config | pairs | alpha | val nDCG@10 | " + " | ".join(f"{s} R@1/R@10" for s in short)
             + " | held-out mean R@1/R@10 |", "|---|---|---|---|" + "---|" * (len(sets) + 1)]
    for name, r in results.items():
        cells = [f"{r['sets'][s]['R@1']:.3f} / {r['sets'][s]['R@10']:.3f}" for s in sets]
        lines.append(f"| {name} | {r.get('n_pairs', '-')} | {r.get('alpha', 0):.2f} | "
                     f"{r['val_nDCG@10'][1] if 'val_nDCG@10' in r else float('nan'):.3f} | " + " | ".join(cells)
                     + f" | {heldout_mean(r['sets'], 'R@1'):.3f} / {heldout_mean(r['sets'], 'R@10'):.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modality", choices=("image", "audio"), default="image")
    ap.add_argument("--configs", help="comma-separated config names (default: all of the modality)")
    ap.add_argument("--out", type=Path, help="JSON results (merged into an existing file)")
    ap.add_argument("--no-memo", action="store_true", help="no Whisper/aisfx memo for audio features")
    ap.add_argument("--binding", action="append", default=[],
                    help="LABEL=FOLDER: also score this saved binding's head (not retrained), with the shipped bank")
    args = ap.parse_args()
    configs = CONFIGS[args.modality]()
    for spec in args.binding:
        label, _, folder = spec.partition("=")
        configs[label] = {"binding": folder, **({"bank": "shipped"} if args.modality == "audio" else {})}
    names = (args.configs.split(",") if args.configs else [] if args.binding else list(configs)) \
        + [spec.partition("=")[0] for spec in args.binding]
    unknown = [n for n in names if n not in configs]
    if unknown:
        sys.exit(f"unknown configs {unknown}; known: {', '.join(configs)}")
    if args.modality == "audio" and not args.no_memo:
        _memoise_audio(cache_dir("bench", "audio-memo"))
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out and args.out.is_file() else {}
    results.setdefault("configs", {})
    by_bank: dict[str | None, list[str]] = {}
    for n in names:
        by_bank.setdefault(configs[n].get("bank"), []).append(n)
    for bank, group in by_bank.items():
        space = _space(args.modality, bank)
        evals = _eval_data(space, args.modality)
        bridge_name = "bridge" if bank in (None, "shipped") else f"bridge ({bank} bank)"
        results["configs"][bridge_name] = {"sets": evaluate_binding(None, args.modality, evals), "config": {"bank": bank}}
        for n in group:
            print(f"== {n}", file=sys.stderr, flush=True)
            results["configs"][n] = run_config(n, configs[n], args.modality, space, evals)
            r = results["configs"][n]
            print(f"{n}: held-out R@1 {heldout_mean(r['sets'], 'R@1'):.3f} R@10 {heldout_mean(r['sets'], 'R@10'):.3f} "
                  f"({r.get('train_seconds', 0):.0f} s) {json.dumps(r['sets'])}", flush=True)
            if args.out:
                args.out.write_text(json.dumps(results, indent=1, default=str))
    sets = list(EVAL_SETS[args.modality])
    results["command"] = "python benchmarks/bind_sources.py " + " ".join(sys.argv[1:])
    print(table(results["configs"], sets))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
