"""Audio and video ingest as real-time factors (media seconds per wall second), per stage.

    .venv/bin/python benchmarks/bench_media.py [--out benchmarks/results/media.json]

Sets (real media from pinned Debian packages, cached):
* speech: Asterisk English voice prompts (WAV, mostly 1–5 s each);
* long speech: the same prompts joined into 5-minute WAV files (one long recording per file:
  how the cost behaves once Whisper's fixed 30-s window is filled);
* sounds: Tux Paint stamp sounds (OGG);
* video: the generated Tux Paint stamp clips of the `tuxpaint-video` set (MP4, 2–6 s, with sound).
Each is indexed with `Index.add` into a fresh default-profile index after a one-file warm-up.
RTF = seconds of media / wall seconds (target for speech: ≥ 20).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from speed_common import StageClock, machine, timed_add, write_results

import xmodal.engine.indexer as indexer_mod
from xmodal.encode.audio import SpeechSoundAudioEncoder
from xmodal.encode.image_conse import ConSEImageEncoder
from xmodal.encode.sound_bank import AisfxEmbedder
from xmodal.encode.text_minilm import MiniLMTextEncoder
from xmodal.media import load
from xmodal.store.lance import LanceStore


def instrument(clock: StageClock) -> None:
    clock.wrap(indexer_mod, "load", "decode")
    clock.wrap(SpeechSoundAudioEncoder, "transcribe", "whisper (VAD + decode)")
    clock.wrap(SpeechSoundAudioEncoder, "_sound", "sound side (aisfx + bank)")
    clock.wrap(AisfxEmbedder, "embed_blocks", "aisfx CNN")
    clock.wrap(MiniLMTextEncoder, "embed_texts", "text embeddings")
    clock.wrap(ConSEImageEncoder, "encode", "image path (frames)")
    clock.wrap(LanceStore, "upsert", "store commit")


def long_speech(prompts: list[Path], out: Path, minutes: float = 5.0, files: int = 2) -> list[Path]:
    """Join prompts (with 0.5 s pauses) into `files` WAVs of ~`minutes` each (cached per run)."""
    import soundfile as sf

    out.mkdir(parents=True, exist_ok=True)
    paths, i = [], 0
    for f in range(files):
        parts, total = [], 0.0
        while total < minutes * 60:
            m = load(prompts[i % len(prompts)])
            i += 1
            a = np.asarray(m.audio, np.float32).reshape(-1)
            parts += [a, np.zeros(int(0.5 * m.sample_rate), np.float32)]
            total += len(a) / m.sample_rate + 0.5
        p = out / f"long-speech-{f}.wav"
        sf.write(p, np.concatenate(parts), m.sample_rate)
        paths.append(p)
    return paths


def run(label: str, paths: list[Path], clock: StageClock) -> dict[str, Any]:
    seconds = sum(load(p).duration or 0.0 for p in paths[1:])
    r = timed_add(paths, clock, instrument)
    dt, n, load0 = r["wall_s"], r["items"], r["load_before"]
    res = {**r, "media_seconds": round(seconds, 1), "realtime_factor": round(seconds / dt, 1), "items_per_s": round(n / dt, 2)}
    print(f"{label:12} {n:4d} items, {seconds:7.1f} s of media in {dt:6.1f} s → {res['realtime_factor']:6.1f}× real time "
          f"({res['items_per_s']} items/s, CPU {res['cpu_utilisation']} cores, load {load0[0]})", flush=True)
    for stage, s in res["stages"].items():
        print(f"    {stage:28} {s['wall_s']:7.2f} s wall  {s['cpu_s']:7.2f} s thread CPU  ({s['calls']} calls)")
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--speech", type=int, default=60)
    ap.add_argument("--sounds", type=int, default=60)
    ap.add_argument("--videos", type=int, default=20)
    ap.add_argument("--long-minutes", type=float, default=5.0)
    ap.add_argument("--sets", default="speech,long-speech,sounds,video")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    from xmodal.data.asterisk import asterisk_prompts
    from xmodal.data.debian import fetch_deb
    from xmodal.data.sets import build_set
    from xmodal.data.tuxpaint import tuxpaint_stamps

    results: dict[str, Any] = {"machine": machine(), "sets": {}}
    clock = StageClock()
    prompts = [p.wav for p in asterisk_prompts(fetch_deb("asterisk-core-sounds-en-wav"))]
    wanted = args.sets.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        sets: dict[str, list[Path]] = {}
        if "speech" in wanted:
            sets["speech"] = prompts[: args.speech]
        if "long-speech" in wanted:
            sets["long-speech"] = long_speech(prompts[args.speech:], Path(tmp), args.long_minutes, files=3)
        if "sounds" in wanted:
            stamps = tuxpaint_stamps(fetch_deb("tuxpaint-stamps-default"))
            sets["sounds"] = [s.sound for s in stamps if s.sound][: args.sounds]
        if "video" in wanted:
            sets["video"] = sorted((build_set("tuxpaint-video") / "media").rglob("*.mp4"))[: args.videos]
        for label, paths in sets.items():
            results["sets"][label] = run(label, paths, clock)
    write_results(results, args.out)


if __name__ == "__main__":
    main()
