"""Video decoding with PyAV: frames sampled by timestamp, the audio track, and shot boundaries."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xmodal.errors import MediaError
from xmodal.media.colour import mean_shares
from xmodal.media.audio import SAMPLE_RATE, codec_context, decode_audio, over_limit, stream_seconds
from xmodal.types import Media, Modality

if TYPE_CHECKING:
    from PIL.Image import Image

    from xmodal.media import Limits

SHOT_THRESHOLD = 0.4  # histogram distance (0..1) between sampled frames that counts as a cut
SEEK_GAP = 5.0  # seconds between samples above which seeking beats decoding every frame


def sample_times(duration: float, fps: float, max_frames: int) -> list[float]:
    """Timestamps to sample: every 1/fps seconds, or max_frames spread uniformly if that is more."""
    n = max(1, math.ceil(duration * fps - 1e-6))
    if n <= max_frames:
        return [k / fps for k in range(n)]
    return [k * duration / max_frames for k in range(max_frames)]


def _histogram(im: "Image") -> np.ndarray:
    # 8 levels per channel on a small thumbnail: insensitive to noise and small motion
    a = np.asarray(im.convert("RGB").resize((64, 64)), dtype=np.uint8) >> 5
    idx = (a[..., 0].astype(np.int32) << 6) | (a[..., 1].astype(np.int32) << 3) | a[..., 2]
    h = np.bincount(idx.reshape(-1), minlength=512).astype(np.float64)
    return h / h.sum()


def detect_shots(
    images: list["Image"], times: list[float], duration: float, threshold: float = SHOT_THRESHOLD
) -> list[list[float]]:
    """[start, end] seconds of each shot: a cut wherever consecutive sampled frames' colour
    histograms differ (total variation distance) by more than `threshold`."""
    if not images:
        return [[0.0, duration]]
    hists = [_histogram(im) for im in images]
    bounds = [0.0]
    for i in range(1, len(hists)):
        if 0.5 * np.abs(hists[i] - hists[i - 1]).sum() > threshold:
            bounds.append(times[i])  # the cut lies in (times[i-1], times[i]]; first seen at i
    bounds.append(max(duration, times[-1]))
    return [[round(a, 3), round(b, 3)] for a, b in zip(bounds[:-1], bounds[1:])]


def _scan_duration(container: Any, stream: Any) -> float | None:
    """Duration from packet timestamps, for containers whose headers do not state it."""
    end = None
    for pkt in container.demux(stream):
        if pkt.pts is not None:
            t = float((pkt.pts + (pkt.duration or 0)) * stream.time_base)
            end = t if end is None else max(end, t)
    container.seek(0)
    if end is None:
        return None
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    return end - start


class _Sampler:
    """Frame grabbing shared by sequential and seeking modes."""

    def __init__(self, stream: Any, limits: "Limits"):
        self.stream = stream
        self.tb = stream.time_base
        self.start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate else 0.0
        self.tol = 0.5 / self.fps if self.fps else 0.02  # half a frame: timestamps are rounded
        cc = stream.codec_context
        w, h = cc.width, cc.height
        s = min(1.0, limits.image_max_side / max(w, h, 1))
        # even sizes keep swscale happy with subsampled chroma
        self.size = (max(2, int(w * s) // 2 * 2), max(2, int(h * s) // 2 * 2)) if s < 1 else (w, h)
        self.count = 0

    def time(self, frame: Any) -> float:
        self.count += 1
        if frame.pts is not None and self.tb is not None:
            return float(frame.pts * self.tb) - self.start
        return (self.count - 1) / self.fps if self.fps else 0.0

    def image(self, frame: Any) -> "Image":
        return frame.to_image(width=self.size[0], height=self.size[1])


def _decode_frames(container: Any, stream: Any) -> Any:
    """Frames of one stream; corrupt packets are skipped, a broken-off demux ends the stream."""
    import av

    try:
        for packet in container.demux(stream):
            try:
                yield from packet.decode()
            except av.error.FFmpegError:
                continue
    except av.error.FFmpegError:
        return


def _sample_sequential(container: Any, stream: Any, targets: list[float], sp: _Sampler) -> tuple[list, list]:
    images, times = [], []
    i = 0
    for frame in _decode_frames(container, stream):
        t = sp.time(frame)
        hit = False
        # one frame may satisfy several targets (variable frame rate, sparse frames): keep it once
        while i < len(targets) and t >= targets[i] - sp.tol:
            i += 1
            hit = True
        if hit:
            images.append(sp.image(frame))
            times.append(round(max(t, 0.0), 3))
        if i >= len(targets):
            break
    return images, times


def _sample_seeking(container: Any, stream: Any, targets: list[float], sp: _Sampler) -> tuple[list, list]:
    import av

    images, times = [], []
    for target in targets:
        try:
            container.seek(int((target + sp.start) / sp.tb), stream=stream, backward=True, any_frame=False)
        except av.error.FFmpegError:
            continue
        for frame in _decode_frames(container, stream):
            t = sp.time(frame)
            if t >= target - sp.tol:
                if not times or t > times[-1]:  # a seek can land on the previous sample again
                    images.append(sp.image(frame))
                    times.append(round(max(t, 0.0), 3))
                break
    return images, times


def _open(path: Path, fmt: str) -> Any:
    import av

    try:
        return av.open(str(path), metadata_errors="ignore")
    except Exception as e:
        raise MediaError(str(path), f"corrupt or unreadable {fmt} video: {e}") from None


def _picture_stream(path: Path, container: Any) -> Any:
    """The first video stream that is not a cover picture."""
    import av

    attached = int(av.stream.Disposition.attached_pic)
    vstreams = [s for s in container.streams.video if not int(s.disposition) & attached]
    if not vstreams:
        raise MediaError(str(path), "no video stream in the file")
    codec_context(path, vstreams[0], "video")
    return vstreams[0]


def frame_at(path: Path, fmt: str, t: float, limits: "Limits") -> "Image":
    """The first frame at or after `t` seconds (the last one decoded when `t` is past the end),
    scaled to at most `limits.image_max_side`: the picture of the moment a search matched."""
    import av

    with _open(path, fmt) as container:
        v = _picture_stream(path, container)
        sp = _Sampler(v, limits)
        try:
            container.seek(int((max(t, 0.0) + sp.start) / sp.tb), stream=v, backward=True, any_frame=False)
        except av.error.FFmpegError:
            container.seek(0)
        last = None
        for frame in _decode_frames(container, v):
            last = frame
            if sp.time(frame) >= t - sp.tol:
                break
        if last is None:
            raise MediaError(str(path), f"no video frame at {t:.1f} s")
        return sp.image(last)


def load(path: Path, fmt: str, limits: "Limits") -> Media:
    import av

    container = _open(path, fmt)
    with container:
        v = _picture_stream(path, container)
        has_audio_stream = bool(container.streams.audio)
        dur = stream_seconds(container, v)
        if dur is None:
            dur = _scan_duration(container, v)
        if dur is not None and dur > limits.max_video_seconds:
            raise over_limit(path, "video", dur, limits.max_video_seconds, "max_video_seconds")
        v.thread_type = "AUTO"
        sp = _Sampler(v, limits)
        if dur is None or dur <= 0:
            # nothing tells the length: take frames from the start at the sampling rate
            targets = [k / limits.video_fps for k in range(limits.max_frames)]
        else:
            targets = sample_times(dur, limits.video_fps, limits.max_frames)
        gap = targets[1] - targets[0] if len(targets) > 1 else 0.0
        sampler = _sample_seeking if gap >= SEEK_GAP else _sample_sequential
        images, times = sampler(container, v, targets, sp)
        if not images and sampler is _sample_seeking:
            # some files do not seek well; fall back to plain decoding
            container.seek(0)
            images, times = _sample_sequential(container, v, targets, sp)
        if not images:
            raise MediaError(str(path), f"no video frames could be decoded (codec {v.codec_context.name})")
        if dur is None or dur <= 0:
            dur = times[-1] + (1.0 / sp.fps if sp.fps else 0.0)
        meta: dict[str, Any] = {
            "format": fmt,
            "codec": v.codec_context.name,
            "fps": round(sp.fps, 3),
            "width": v.codec_context.width,
            "height": v.codec_context.height,
        }

    audio = None
    if has_audio_stream:
        try:
            with av.open(str(path), metadata_errors="ignore") as c:
                a = c.streams.audio[0]
                a.thread_type = "AUTO"
                audio = decode_audio(path, c, a, limits.max_video_seconds, "max_video_seconds", "video")
        except MediaError as e:
            if "Limits." in e.reason:
                raise
            meta["audio_error"] = e.reason  # the pictures are still worth indexing
        except Exception as e:
            meta["audio_error"] = f"{type(e).__name__}: {e}"
    meta["has_audio"] = audio is not None
    meta["shots"] = detect_shots(images, times, dur)
    meta["colours"] = mean_shares(images)
    return Media(
        modality=Modality.VIDEO,
        path=str(path),
        images=images,
        image_times=times,
        audio=audio,
        sample_rate=SAMPLE_RATE,
        duration=round(dur, 3),
        meta=meta,
    )
