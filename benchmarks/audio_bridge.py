"""How well the offline audio encoder lands sound and speech in the MiniLM text space.

Data: the Tux Paint stamps (Debian `tuxpaint-stamps-default`, extracted under
~/.cache/xmodal/debs/x/usr/share/tuxpaint/stamps): each stamp X with a sound X.ogg has a caption
(first line of X.txt), and some have an English spoken caption X_desc.ogg. None of these sounds
is in the reference bank (that is the Scratch library), so nothing leaks.

Prints:
- text→sound retrieval (caption → stamp sounds), with the bridge alone and with the full encoder
  (speech + sound); R@1/5/10, MRR and the chance level;
- leave-one-out on the reference bank (own label among the bank's distinct labels);
- spoken captions: exact-match rate and word error rate of the transcripts, and spoken caption →
  caption text R@1 among all captions that have a spoken version;
- seconds of CPU time per second of audio.

Run: PYTHONPATH=src .venv/bin/python benchmarks/audio_bridge.py [--embedder aisfx|logmel]
     [--top-k 5] [--temperature 0.05] [--stamps DIR]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

from xmodal.encode.audio import SpeechSoundAudioEncoder
from xmodal.data.sound_bank import decode_mono as load_audio_file
from xmodal.encode.sound_bank import AisfxEmbedder, LogMelStatsEmbedder, clip_embedding, label_text, shipped_bank
from xmodal.encode.text_minilm import MiniLMTextEncoder
from xmodal.types import Media, Modality

DEFAULT_STAMPS = Path.home() / ".cache/xmodal/debs/x/usr/share/tuxpaint/stamps"


def caption(txt: Path) -> str:
    return txt.read_text(encoding="utf-8", errors="replace").splitlines()[0].strip()


def stamps(root: Path) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """(sound, caption) pairs and (spoken caption, caption) pairs."""
    sounds, spoken = [], []
    for txt in sorted(root.rglob("*.txt")):
        cap = caption(txt)
        if not cap:
            continue
        if (ogg := txt.with_suffix(".ogg")).exists():
            sounds.append((ogg, cap))
        if (desc := txt.with_name(txt.stem + "_desc.ogg")).exists():
            spoken.append((desc, cap))
    return sounds, spoken


def recall(sim: np.ndarray, ks=(1, 5, 10)) -> dict[str, float]:
    """sim: (queries, corpus) with query i's answer at corpus i."""
    own = sim[np.arange(len(sim)), np.arange(len(sim))][:, None]
    rank = (sim > own).sum(1)
    out = {f"R@{k}": float((rank < k).mean()) for k in ks}
    out["MRR"] = float((1.0 / (rank + 1)).mean())
    return out


def words(s: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", s.lower()).split()


def wer(ref: list[str], hyp: list[str]) -> float:
    d = np.arange(len(hyp) + 1)
    for i, r in enumerate(ref, 1):
        prev, d[0] = d.copy(), i
        for j, h in enumerate(hyp, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (r != h))
    return float(d[len(hyp)]) / max(len(ref), 1)


def fmt(d: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.3f}" for k, v in d.items())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stamps", type=Path, default=DEFAULT_STAMPS)
    ap.add_argument("--embedder", choices=["aisfx", "logmel"], default="aisfx")
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--temperature", type=float, default=0.1)
    ap.add_argument("--skip-full", action="store_true", help="bridge only (no whisper)")
    args = ap.parse_args()
    if not args.stamps.is_dir():
        print(f"{args.stamps}: Tux Paint stamps not found (apt-get download tuxpaint-stamps-default; dpkg -x)")
        return 2

    text = MiniLMTextEncoder()
    embedder = AisfxEmbedder() if args.embedder == "aisfx" else LogMelStatsEmbedder()
    t = time.perf_counter()
    bank = shipped_bank(embedder.version).attach_text(text)
    print(f"bank: {len(bank)} Scratch sounds, {len(set(bank.labels))} distinct labels, "
          f"embedder {embedder.version} ({time.perf_counter() - t:.1f} s incl. build if not cached)")

    # leave-one-out on the bank
    uniq = sorted(set(bank.labels))
    u = text.embed_texts([label_text(x) for x in uniq])
    v, _ = bank.bridge(bank.embeddings, args.top_k, args.temperature, exclude=list(range(len(bank))))
    sim = v @ u.T
    own = np.array([uniq.index(x) for x in bank.labels])
    rank = (sim > sim[np.arange(len(sim)), own][:, None]).sum(1)
    print(f"bank leave-one-out (own label among {len(uniq)}): top1 {np.mean(rank == 0):.3f} "
          f"top5 {np.mean(rank < 5):.3f}  mean rank percentile {np.mean(rank / len(uniq)):.3f} (chance 0.5)")

    sounds, spoken = stamps(args.stamps)
    print(f"stamps: {len(sounds)} sounds with captions, {len(spoken)} spoken captions")
    audio = [load_audio_file(p) for p, _ in sounds]
    caps = [c for _, c in sounds]
    q = text.embed_texts(caps)
    n = len(sounds)
    chance = {f"R@{k}": k / n for k in (1, 5, 10)}
    print(f"chance: {fmt(chance)}")

    t = time.perf_counter()
    clips = np.stack([clip_embedding(embedder.embed_blocks(a)[0]) for a in audio])
    bridged, tags = bank.bridge(clips, args.top_k, args.temperature)
    bridge_s = time.perf_counter() - t
    total_s = sum(len(a) for a in audio) / 16000
    print(f"text→sound, bridge only:  {fmt(recall(q @ bridged.T))}")
    for (p, c), tg in list(zip(sounds, tags))[:8]:
        print(f"   {c:<28} → {', '.join(f'{lab} {w:.2f}' for lab, w in tg[:3])}")
    print(f"   sound side: {bridge_s / total_s * 1000:.1f} ms per second of audio ({total_s:.0f} s audio)")

    if args.skip_full:
        return 0
    enc = SpeechSoundAudioEncoder(sound_bank=bank, text_encoder=text, sound_embedder=embedder,
                                  top_k=args.top_k, temperature=args.temperature)
    enc.transcribe(audio[0])  # load whisper outside the timing
    t = time.perf_counter()
    embs = enc.encode([Media(Modality.AUDIO, path=str(p), audio=a, duration=len(a) / 16000)
                       for (p, _), a in zip(sounds, audio)])
    full_s = time.perf_counter() - t
    full = np.stack([e.vector for e in embs])
    print(f"text→sound, full encoder: {fmt(recall(q @ full.T))}")
    with_text = [(p.name, e.text) for (p, _), e in zip(sounds, embs) if e.text]
    print(f"   {len(with_text)} of {n} stamp sounds got a transcript: {with_text[:12]}")
    print(f"   full encoder: {full_s / total_s * 1000:.0f} ms per second of audio")

    # spoken captions
    sp_audio = [load_audio_file(p) for p, _ in spoken]
    t = time.perf_counter()
    sp = enc.encode([Media(Modality.AUDIO, path=str(p), audio=a) for (p, _), a in zip(spoken, sp_audio)])
    sp_s = time.perf_counter() - t
    sp_total = sum(len(a) for a in sp_audio) / 16000
    refs = [words(c) for _, c in spoken]
    hyps = [words(e.text) for e in sp]
    # captions read "A badger."; the recordings say just "badger": compare without articles
    strip = lambda ws: [w for w in ws if w not in {"a", "an", "the"}]  # noqa: E731
    exact = np.mean([strip(r) == strip(h) for r, h in zip(refs, hyps)])
    mean_wer = np.mean([wer(strip(r), strip(h)) for r, h in zip(refs, hyps)])
    cq = text.embed_texts([c for _, c in spoken])
    spv = np.stack([e.vector for e in sp])
    print(f"spoken captions: exact match {exact:.3f}, WER {mean_wer:.3f}, "
          f"spoken→caption text among {len(spoken)}: {fmt(recall(spv @ cq.T))}")
    print(f"   e.g. {[(c, e.text) for (_, c), e in list(zip(spoken, sp))[:10]]}")
    print(f"   {sp_s / sp_total * 1000:.0f} ms per second of audio ({sp_total:.0f} s of short clips)")

    # one long recording: spoken captions and stamp sounds back to back (per-call overheads vanish)
    long = np.concatenate([x for pair in zip(sp_audio, audio) for x in pair])[: 180 * 16000]
    t = time.perf_counter()
    e = enc.encode([Media(Modality.AUDIO, audio=long, duration=len(long) / 16000)])[0]
    long_s = time.perf_counter() - t
    print(f"long recording ({len(long) / 16000:.0f} s): {long_s / (len(long) / 16000) * 1000:.0f} ms per second "
          f"of audio, {len(e.segments)} windows, transcript {len(e.text.split())} words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
