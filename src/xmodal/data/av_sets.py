"""`tuxpaint-av`: clips where picture and sound disagree, for audio-guided video retrieval.

Each clip shows 2 or 3 stamp pictures, one per shot (Ken Burns pans, `data/video.py`), while ONE
other stamp's real sound (X.ogg) or spoken caption (X_desc.ogg) plays at a known time inside one
shot; the rest of the track is silent. Queries name what is heard, what is seen, or both:

- ``sound`` / ``speech``: "the sound of a dog" / 'someone says "a dog"' → the clip where it is
  heard (one), never the clips that merely *show* a dog (each event's picture is shown in other
  clips of its side: the look-alikes);
- ``picture``: "a picture of a cow" → every clip that shows a cow;
- ``both``: "a cow is shown while a dog can be heard" → the clip where the two co-occur.

Each query's metadata holds the ground truth in time: ``kind`` and ``target`` = {clip id:
{"span": [start, end] of what the query names (the sound event, or the shot showing the
picture), "shot": [start, end] of the shot it happens in}}.

Split: by stamp caption group with the rule every Tux Paint set uses (`sets.split_of`), so a
stamp is on one side only and the shipped binding and reranker (trained on train sides) never
saw a test stamp. A clip only holds stamps of one side. ``train`` is the side to tune on. The
query phrasings differ between the sides too (tune templates vs test templates), so the test
side also measures new wordings.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from xmodal.data.sets import _oid, _SetWriter, _stamps, split_of

SHOT_SECONDS = 3.0
MAX_EVENT_SECONDS = 2.0
MAX_CAPTION_WORDS = 6  # long captions ("Remember to flush the toilet …") make odd queries
EVENT_PEAK = 0.5

# (tune side, test side): the wording of a query never crosses the split
TEMPLATES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "sound": (("the sound of {s}", "{s} can be heard"),
              ("you can hear {s}", "a noise made by {s}")),
    "speech": (('someone says "{s}"', 'a voice saying "{s}"'),
               ('a person saying "{s}"', "spoken words: {s}")),
    "picture": (("a picture of {p}", "{p} is shown"),
                ("an image of {p}", "you can see {p}")),
    "both-sound": (("{p} is shown while {s} can be heard", "a picture of {p} with the sound of {s}"),
                   ("you can see {p} and hear {s}", "an image of {p} and a noise made by {s}")),
    "both-speech": (('{p} is shown while someone says "{s}"', 'a picture of {p} and a voice saying "{s}"'),
                    ('you can see {p} while a person says "{s}"', 'an image of {p} and the spoken words: {s}')),
}


def phrase(caption: str) -> str:
    """'A brown hen.' → 'a brown hen' (for templates)."""
    s = caption.strip().rstrip(".!?").strip()
    first = s.split()[0] if s else ""
    return s if len(first) > 1 and first.isupper() else s[:1].lower() + s[1:]


def _pick(options: Sequence[str], key: str) -> str:
    return options[int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % len(options)]


def query_text(kind: str, split: str, key: str, picture: str = "", sound: str = "") -> str:
    side = 0 if split == "train" else 1
    return _pick(TEMPLATES[kind][side], key).format(p=phrase(picture), s=phrase(sound))


def trim_silence(wave: np.ndarray, rate: int, floor: float = 0.03, frame_s: float = 0.02) -> np.ndarray:
    """WAVE without its leading and trailing frames quieter than FLOOR x its peak."""
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    if peak <= 0:
        return wave[:0]
    hop = max(1, int(frame_s * rate))
    n = len(wave) // hop
    if n == 0:
        return wave
    loud = np.abs(wave[: n * hop]).reshape(n, hop).max(1) >= floor * peak
    idx = np.flatnonzero(loud)
    return wave[idx[0] * hop: (idx[-1] + 1) * hop]


def place_event(wave: np.ndarray, track: np.ndarray, start: float, rate: int) -> tuple[float, float]:
    """Mix WAVE into TRACK at START seconds (peak-normalised to EVENT_PEAK, short fades) and
    return its [start, end] in seconds."""
    w = wave.astype(np.float32) * (EVENT_PEAK / max(float(np.max(np.abs(wave))), 1e-6))
    fade = min(len(w) // 4, rate // 50)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        w[:fade] *= ramp
        w[-fade:] *= ramp[::-1]
    a = round(start * rate)
    track[a: a + len(w)] += w[: max(0, len(track) - a)]
    return round(start, 3), round(start + len(w) / rate, 3)


def _plans(entries: list[tuple[Any, str]], rng: random.Random) -> list[dict[str, Any]]:
    """One clip per (stamp, event kind): its pictures are the next entries' stamps (other caption
    groups), so each event's own picture is shown in earlier clips (the look-alikes)."""
    from xmodal.data.tuxpaint import normalise_caption

    plans = []
    n = len(entries)
    for k, (stamp, kind) in enumerate(entries):
        n_shots = 2 + (k % 2)
        pictures, seen = [], {normalise_caption(stamp.caption)}
        j = k + 1
        while len(pictures) < n_shots and j < k + n:
            cand = entries[j % n][0]
            g = normalise_caption(cand.caption)
            if g not in seen:
                seen.add(g)
                pictures.append(cand)
            j += 1
        if len(pictures) < 2:
            continue
        plans.append({"event": stamp, "kind": kind, "pictures": pictures,
                      "event_shot": rng.randrange(len(pictures))})
    return plans


def build_av(w: _SetWriter, root: Path | None, size: tuple[int, int] = (224, 168), fps: int = 12,
             shot_seconds: float = SHOT_SECONDS) -> dict[str, Any]:
    from xmodal.data.tuxpaint import normalise_caption
    from xmodal.data.video import AUDIO_RATE, decode_audio, make_stamp_clip

    stamps = [s for s in _stamps(root) if len(s.caption.split()) <= MAX_CAPTION_WORDS]
    # one stamp per caption group: a group's pictures and sounds then have one name
    first: dict[str, Any] = {}
    for s in sorted(stamps, key=lambda s: (not s.sound, not s.spoken, s.id)):
        first.setdefault(normalise_caption(s.caption), s)
    rng = random.Random(20250115)
    plans: list[dict[str, Any]] = []
    for split in ("train", "test"):
        entries = [(s, kind) for g, s in sorted(first.items()) if split_of(g) == split
                   for kind, src in (("sound", s.sound), ("speech", s.spoken)) if src]
        rng.shuffle(entries)
        for p in _plans(entries, rng):
            plans.append({**p, "split": split})

    folder = w.folder / "media" / "corpus"
    folder.mkdir(parents=True, exist_ok=True)
    shown: dict[str, dict[str, dict[str, list[float]]]] = {}  # caption group -> clip -> shot span
    events: list[tuple[dict[str, Any], str, list[float], list[float], list[float]]] = []
    for p in plans:
        ev = p["event"]
        src = ev.sound if p["kind"] == "sound" else ev.spoken
        cid = _oid("v", f"{src}|" + "|".join(s.id for s in p["pictures"]))
        n_shots = len(p["pictures"])
        track = np.zeros(round(n_shots * shot_seconds * AUDIO_RATE), np.float32)
        wave = trim_silence(decode_audio(src), AUDIO_RATE)[: int(MAX_EVENT_SECONDS * AUDIO_RATE)]
        if wave.size == 0:
            continue
        shot0 = p["event_shot"] * shot_seconds
        slack = shot_seconds - len(wave) / AUDIO_RATE - 0.5
        span = place_event(wave, track, shot0 + 0.25 + rng.uniform(0, max(slack, 0.0)), AUDIO_RATE)
        spans = make_stamp_clip(folder / f"{cid}.mp4", [(s.image, None, shot_seconds, s.caption) for s in p["pictures"]],
                                size=size, fps=fps, audio=track)
        w.corpus[cid] = {"_id": cid, "path": f"media/corpus/{cid}.mp4", "modality": "video"}
        shots = [[sp["start"], sp["end"]] for sp in spans]
        ev_shot = shots[p["event_shot"]]
        span = [span[0], min(span[1], ev_shot[1])]
        w.provenance.append({"_id": cid, "role": "corpus", "split": p["split"],
                             "event": {"stamp": ev.id, "kind": p["kind"], "span": span},
                             "shots": [{"stamp": s.id, "span": sh} for s, sh in zip(p["pictures"], shots)]})
        for s, sh in zip(p["pictures"], shots):
            shown.setdefault(normalise_caption(s.caption), {})[cid] = sh
        events.append((p, cid, span, ev_shot, shots))

    by_split = {"train": 0, "test": 0}
    for p, cid, span, ev_shot, shots in events:
        ev, split, kind = p["event"], p["split"], p["kind"]
        key = f"{kind}:{ev.id}"
        target = {cid: {"span": span, "shot": ev_shot}}
        w.add_query(_oid("q", key), split, [cid], text=query_text(kind, split, key, sound=ev.caption),
                    source=ev.id, extra={"kind": kind, "target": target})
        pic = p["pictures"][p["event_shot"]]
        key = f"both-{kind}:{ev.id}:{pic.id}"
        w.add_query(_oid("q", key), split, [cid],
                    text=query_text(f"both-{kind}", split, key, picture=pic.caption, sound=ev.caption),
                    source=f"{pic.id} + {ev.id}", extra={"kind": "both", "heard": kind, "target": target})
        by_split[split] += 1
    for g, clips in sorted(shown.items()):
        split = split_of(g)
        key = f"picture:{g}"
        stamp = first[g]
        w.add_query(_oid("q", key), split, clips, text=query_text("picture", split, key, picture=stamp.caption),
                    source=stamp.id, extra={"kind": "picture",
                                            "target": {c: {"span": sh, "shot": sh} for c, sh in sorted(clips.items())}})
    return {"task": "text -> video where picture and sound disagree (sound, speech, picture and both queries)",
            "query_modality": "text", "corpus_modality": "video",
            "relevance": "sound/speech: the clip where the named stamp is heard; picture: every clip showing "
                         "the stamp; both: the clip where the named picture and sound co-occur",
            "ground_truth": "queries carry kind and target {clip: {span, shot}} in seconds",
            "clips": {"count": len(events), "by_split": by_split, "seconds_per_shot": shot_seconds,
                      "shots": "2 or 3", "max_event_seconds": MAX_EVENT_SECONDS, "size": list(size), "fps": fps,
                      "codecs": "H.264 yuv420p + AAC 16 kHz mono"},
            "templates": {k: {"train": list(v[0]), "test": list(v[1])} for k, v in TEMPLATES.items()}}
