"""Captioned test clips made from stamps: each shot is a picture slowly panned and zoomed (Ken
Burns) with the stamp's own sound as the audio track. PyAV only — no ffmpeg binary needed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from xmodal.data.render import BACKGROUNDS, load_rgba, on_canvas

if TYPE_CHECKING:
    from PIL.Image import Image

AUDIO_RATE = 16000
_AAC_FRAME = 1024


@dataclass
class Shot:
    image: Path
    sound: Path | None = None
    seconds: float = 2.0
    caption: str = ""


def decode_audio(path: Path, rate: int = AUDIO_RATE) -> np.ndarray:
    """Mono float32 waveform at RATE Hz of any audio file PyAV reads."""
    import av

    from xmodal.errors import MediaError

    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                raise MediaError(str(path), "no audio stream")
            res = av.AudioResampler(format="flt", layout="mono", rate=rate)
            for frame in c.decode(audio=0):
                for out in res.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in res.resample(None):  # flush
                chunks.append(out.to_ndarray().reshape(-1))
    except av.FFmpegError as e:
        raise MediaError(str(path), f"cannot decode audio: {e}") from e
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def _fit(wave: np.ndarray, n: int, rate: int) -> np.ndarray:
    """WAVE trimmed or zero-padded to N samples; a short fade where it is cut, to avoid a click."""
    out = np.zeros(n, np.float32)
    m = min(n, len(wave))
    out[:m] = wave[:m]
    if len(wave) > n:
        f = min(m, rate // 20)
        out[m - f:m] *= np.linspace(1.0, 0.0, f, dtype=np.float32)
    return out


def _seed(path: Path, index: int) -> int:
    return int.from_bytes(hashlib.sha1(f"{Path(path).name}:{index}".encode()).digest()[:4], "big")


def _ken_burns(canvas: "Image", n: int, size: tuple[int, int], seed: int) -> list["Image"]:
    """N frames of SIZE moving a shrinking (zoom-in) or growing window across CANVAS."""
    from PIL import Image

    cw, ch = canvas.size
    rng = np.random.default_rng(seed)
    z0, z1 = (1.0, 1.25) if rng.random() < 0.5 else (1.25, 1.0)
    # start and end centres, as fractions of the slack the window leaves at its smallest
    p0, p1 = rng.uniform(-1, 1, 2), rng.uniform(-1, 1, 2)
    frames = []
    for i in range(n):
        t = i / max(n - 1, 1)
        t = t * t * (3 - 2 * t)  # ease in and out
        z = z0 + (z1 - z0) * t
        ww, wh = cw / z, ch / z
        px, py = p0 + (p1 - p0) * t
        cx = cw / 2 + px * (cw - ww) / 2
        cy = ch / 2 + py * (ch - wh) / 2
        box = (cx - ww / 2, cy - wh / 2, cx + ww / 2, cy + wh / 2)
        frames.append(canvas.resize(size, Image.BILINEAR, box=box))
    return frames


def make_stamp_clip(
    out_path: Path,
    shots: Sequence[Shot | tuple],
    size: tuple[int, int] = (320, 240),
    fps: int = 12,
    crf: int = 26,
    audio: np.ndarray | None = None,
) -> list[dict]:
    """Write an MP4 (H.264 yuv420p + AAC 16 kHz mono) with one Ken Burns shot per picture.

    SHOTS are Shot objects or tuples (image_path, sound_path | None, seconds[, caption]).
    Each shot has its own plain background colour; its audio is the sound resampled, then
    trimmed or padded with silence to the shot's length (silence when there is no sound).
    AUDIO, a whole mono track at AUDIO_RATE, replaces the shots' sounds (sounds that do not
    start with a shot); it is trimmed or padded with silence to the clip's length.
    Returns, per shot, {"index", "start", "end", "image", "sound", "caption"} (seconds).
    """
    import av

    shots = [s if isinstance(s, Shot) else Shot(*s) for s in shots]
    if not shots:
        raise ValueError(f"{out_path}: a clip needs at least one shot")
    w, h = size
    if w % 2 or h % 2:
        raise ValueError(f"{out_path}: yuv420p needs an even width and height, got {size}")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    canvas_size = (round(w * 1.5) // 2 * 2, round(h * 1.5) // 2 * 2)

    spans: list[dict] = []
    t = 0.0
    with av.open(str(out_path), "w", format="mp4", options={"movflags": "+faststart"}) as c:
        vs = c.add_stream("libx264", rate=fps, options={"crf": str(crf), "preset": "veryfast"})
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        aus = c.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        vpts = apts = 0
        pending = np.zeros(0, np.float32)
        for i, shot in enumerate(shots):
            n_frames = max(1, round(shot.seconds * fps))
            seconds = n_frames / fps  # shot boundaries fall on frames
            seed = _seed(shot.image, i)
            bg = BACKGROUNDS[(seed + i) % len(BACKGROUNDS)]
            canvas = on_canvas(load_rgba(shot.image), canvas_size, bg)
            for img in _ken_burns(canvas, n_frames, size, seed):
                frame = av.VideoFrame.from_image(img)
                frame.pts = vpts
                vpts += 1
                for pkt in vs.encode(frame):
                    c.mux(pkt)
            n_samples = round(seconds * AUDIO_RATE)
            if audio is not None:
                a0 = round(t * AUDIO_RATE)
                wave = np.asarray(audio[a0:a0 + n_samples], np.float32)
            else:
                wave = decode_audio(shot.sound) if shot.sound else np.zeros(0, np.float32)
            pending = np.concatenate([pending, _fit(wave, n_samples, AUDIO_RATE)])
            # Whole encoder frames now; the remainder carries into the next shot.
            while len(pending) >= _AAC_FRAME:
                apts = _encode_audio(c, aus, pending[:_AAC_FRAME], apts)
                pending = pending[_AAC_FRAME:]
            spans.append({"index": i, "start": round(t, 3), "end": round(t + seconds, 3),
                          "image": str(shot.image), "sound": str(shot.sound) if shot.sound else None,
                          "caption": shot.caption})
            t += seconds
        if len(pending):
            apts = _encode_audio(c, aus, pending, apts)
        for pkt in vs.encode(None):
            c.mux(pkt)
        for pkt in aus.encode(None):
            c.mux(pkt)
    return spans


def _encode_audio(container, stream, samples: np.ndarray, pts: int) -> int:
    import av

    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1).astype(np.float32), format="fltp",
                                       layout="mono")
    frame.sample_rate = AUDIO_RATE
    frame.pts = pts
    for pkt in stream.encode(frame):
        container.mux(pkt)
    return pts + len(samples)
