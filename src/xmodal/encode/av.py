"""Aligned audio-visual tokens of a video: time-span alignment, audio-guided pooling, and where
(and through which sense) a query matched.

A video's stored rows are its sampled frames (what is seen), its shots, and its audio windows
(what is heard: speech segments from the transcript, sound windows from the sound bridge), each
with a time span. They are *aligned* by those spans: `alignment` gives, for every frame, the
share of it each window covers. Everything below is numpy over the stored rows, so the encoder,
the first stage's explanation and the reranker read the same alignment.

Audio-guided pooling (`av_pool`), hierarchical windows → frames → shots → clip:

    heard_i  = Σ_w A[i, w] · s_w · a_w        what is heard during frame i (A: alignment,
    sal_i    = min(1, Σ_w A[i, w] · s_w)       s_w: the window's salience, a_w: its vector)
    α_i      = softmax over the shot's frames of (frame_temp · sal_i)
    shot_j   = normalise(Σ_i α_i (f_i + audio_gain · heard_i))
    β_j      = softmax over shots of (shot_temp · max_i∈j sal_i)
    audio    = normalise(Σ_w s_w · a_w)                  what the clip says, by salience
    clip     = normalise(normalise(Σ_j β_j shot_j) + window_weight · audio)

The attention's keys are the frames' aligned audio windows (their salience): salient sound or
speech raises the weight of the frames and shots it plays over, and the heard window joins the
values. Where nothing is heard (s = 0 everywhere) every weight is uniform and heard = 0, which is
exactly the plain mean pooling the encoder used before; the encoder takes the old path then, so
a silent clip's vectors are bit-for-bit what they were.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from ..types import Segment
from .base import l2_normalize

SOUND_PREFIX = "sound:"  # the text of a sound window ("sound: dog bark 0.61; …"), see encode/audio.py
NOTE_PREFIX = "note:"  # a window that only says part of the track was not transcribed


def is_sound_window(seg: Segment) -> bool:
    return seg.kind == "window" and seg.text.startswith(SOUND_PREFIX)


def is_speech_window(seg: Segment) -> bool:
    return seg.kind == "window" and bool(seg.text) and not seg.text.startswith((SOUND_PREFIX, NOTE_PREFIX))


def spans_of(segments: Sequence[Segment]) -> np.ndarray:
    """(n, 2) start/end seconds (end = start where a segment has no end)."""
    out = np.zeros((len(segments), 2), np.float64)
    for i, s in enumerate(segments):
        a = float(s.start or 0.0)
        out[i] = (a, float(s.end) if s.end is not None else a)
    return out


def alignment(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len a, len b): the share of each span in A covered by each span in B (0..1)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 2), np.asarray(b, np.float64).reshape(-1, 2)
    inter = np.minimum(a[:, None, 1], b[None, :, 1]) - np.maximum(a[:, None, 0], b[None, :, 0])
    length = np.maximum(a[:, 1] - a[:, 0], 1e-9)[:, None]
    return np.clip(inter, 0.0, None) / length


@dataclass
class AudioWindow:
    """A stretch of the audio track with what it says in the shared space and how salient it is."""

    start: float
    end: float
    vector: np.ndarray
    salience: float  # 0 (nothing worth hearing) … 1
    speech: bool
    text: str = ""

    def segment(self, index: int) -> Segment:
        return Segment("window", index=index, start=round(self.start, 2), end=round(self.end, 2), text=self.text)


@dataclass(frozen=True)
class PoolParams:
    # chosen on tuxpaint-av:train with the hybrid first stage (benchmarks/av_eval.py --tune): the
    # most sound-described R@1 whose picture-described R@1 stays within a point of mean pooling's
    audio_gain: float = 0.1  # weight of the heard window added to a frame
    frame_temp: float = 4.0  # how sharply salience picks frames within a shot
    shot_temp: float = 0.5  # how sharply salience picks shots within the clip
    window_weight: float = 0.55  # the clip's salience-weighted audio against its pictures


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def loudness_salience(rms: float, floor: float, ref: float = 0.1) -> float:
    """0 at or below FLOOR (silence), 1 at REF RMS and above, linear in decibels between."""
    if rms <= floor:
        return 0.0
    return float(min(1.0, np.log10(rms / floor) / np.log10(ref / floor)))


@dataclass
class Pooled:
    clip: np.ndarray  # (d,) the clip vector
    shots: np.ndarray  # (n_shots, d) audio-guided shot vectors
    frame_weights: np.ndarray  # (n_frames,) α within each shot
    shot_weights: np.ndarray  # (n_shots,) β


def frame_shot_members(frame_times: Sequence[float], shots: Sequence[Sequence[float]]) -> list[list[int]]:
    """Frames of each shot (by sample time); a shot with none takes the frame nearest its start."""
    out = []
    for s0, s1 in shots:
        sel = [i for i, t in enumerate(frame_times) if s0 <= t < s1]
        out.append(sel or [min(range(len(frame_times)), key=lambda i: abs(frame_times[i] - s0))])
    return out


def av_pool(frames: np.ndarray, frame_spans: np.ndarray, shots: Sequence[Sequence[float]],
            windows: Sequence[AudioWindow], params: PoolParams) -> Pooled:
    """Audio-guided pooling (module docstring) of frame vectors (n, d) with their spans."""
    frames = np.asarray(frames, np.float32)
    n = len(frames)
    audio = None
    if windows:
        A = alignment(frame_spans, spans_of([Segment("window", start=w.start, end=w.end) for w in windows]))
        sal = np.array([w.salience for w in windows], np.float32)
        vecs = np.stack([w.vector for w in windows]).astype(np.float32)
        weighted = A.astype(np.float32) * sal[None, :]
        heard = weighted @ vecs
        frame_sal = np.minimum(weighted.sum(1), 1.0)
        if sal.sum() > 0:
            audio = l2_normalize(sal @ vecs)
    else:
        heard, frame_sal = np.zeros_like(frames), np.zeros(n, np.float32)
    members = frame_shot_members([float(a) for a in frame_spans[:, 0]], shots)
    alpha = np.zeros(n, np.float32)
    shot_vecs, shot_sal = [], []
    for sel in members:
        a = _softmax(params.frame_temp * frame_sal[sel])
        alpha[sel] = a
        shot_vecs.append(l2_normalize((a[:, None] * (frames[sel] + params.audio_gain * heard[sel])).sum(0)))
        shot_sal.append(float(frame_sal[sel].max()))
    beta = _softmax(params.shot_temp * np.array(shot_sal, np.float32))
    shot_arr = np.stack(shot_vecs)
    clip = l2_normalize((beta[:, None] * shot_arr).sum(0))
    if audio is not None:
        clip = l2_normalize(clip + params.window_weight * audio)
    return Pooled(clip, shot_arr, alpha, beta)


# ------------------------------------------------------------------ where a query matched


@dataclass
class Moment:
    segment: Segment  # the time span (a sound or speech window, or a shot)
    sound: float  # query · what is heard then (-inf where nothing is)
    picture: float  # query · what is seen then (-inf where nothing is)
    heard: bool  # a window (scored by its sound) rather than a shot (scored by its picture)


def moments(query: np.ndarray, segments: Sequence[Segment], tokens: np.ndarray) -> list[Moment]:
    """A video's moments for QUERY, through the alignment: every audio window with what is seen
    while it plays (the frames it covers, by overlap), and every shot with the best match heard
    within it. [] for items with neither frames nor audio windows."""
    q = np.asarray(query, np.float32)
    n = min(len(segments), len(tokens))
    frames = [i for i in range(n) if segments[i].kind == "frame"]
    wins = [i for i in range(n) if segments[i].kind == "window" and segments[i].start is not None
            and not segments[i].text.startswith(NOTE_PREFIX)]
    if not frames and not wins:
        return []
    fsim, wsim = tokens[frames] @ q, tokens[wins] @ q
    fsp, wsp = spans_of([segments[i] for i in frames]), spans_of([segments[i] for i in wins])
    shot_segs = [segments[i] for i in range(n) if segments[i].kind == "shot"]
    if frames and not shot_segs:
        shot_segs = [Segment("shot", start=float(fsp[:, 0].min()), end=float(fsp[:, 1].max()))]
    out: list[Moment] = []
    cover = alignment(wsp, fsp)  # windows x frames
    for k, i in enumerate(wins):
        c = cover[k]
        pic = float((c * fsim).sum() / c.sum()) if c.sum() > 0 else -np.inf
        out.append(Moment(segments[i], float(wsim[k]), pic, True))
    shot_sp = spans_of(shot_segs)
    inside = alignment(fsp, shot_sp).T > 0.5  # shots x frames
    heard = alignment(shot_sp, wsp) > 0  # shots x windows
    for j, seg in enumerate(shot_segs):
        if inside[j].any():
            snd = float(wsim[heard[j]].max()) if heard[j].any() else -np.inf
            out.append(Moment(seg, snd, float(fsim[inside[j]].mean()), False))
    return out


def evidence(sound: float, picture: float, margin: float = 0.05) -> str:
    """Which sense carried a match: "both" when the similarities are within MARGIN."""
    if not np.isfinite(sound):
        return "picture"
    if not np.isfinite(picture):
        return "sound"
    if abs(sound - picture) <= margin:
        return "both"
    return "sound" if sound > picture else "picture"


def locate_moment(query: np.ndarray, segments: Sequence[Segment], tokens: np.ndarray,
                  margin: float = 0.05, both_bonus: float = 0.5) -> Segment | None:
    """Where in a video QUERY matched: the best of its `moments` and which sense carried it
    (Segment.evidence). A window scores by what is heard, a shot by what is seen, each plus
    `both_bonus` x the weaker sense, so a query naming a sight and a sound finds the moment
    where both happen. None for items with neither frames nor audio windows."""
    best, best_score = None, -np.inf
    for m in moments(query, segments, tokens):
        primary, other = (m.sound, m.picture) if m.heard else (m.picture, m.sound)
        score = primary + both_bonus * min(primary, other) if np.isfinite(other) else primary
        if score > best_score:
            best, best_score = m, score
    if best is None:
        return None
    return replace(best.segment, evidence=evidence(best.sound, best.picture, margin))
