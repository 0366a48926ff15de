"""Audio decoding with PyAV: any codec FFmpeg knows, resampled to 16 kHz mono float32."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xmodal.errors import MediaError
from xmodal.types import Media, Modality

if TYPE_CHECKING:
    from xmodal.media import Limits

SAMPLE_RATE = 16000


def human_seconds(s: float) -> str:
    """'5.2 h', '3 h', '12.5 min', '3 s': for limit messages."""
    for unit, size in (("h", 3600.0), ("min", 60.0)):
        if s >= size:
            v = s / size
            break
    else:
        unit, v = "s", s
    return f"{v:.1f}".rstrip("0").rstrip(".") + f" {unit}"


def over_limit(path: Path, what: str, seconds: float | None, limit: float, name: str) -> MediaError:
    """seconds=None: the length is unknown but decoding has run past the limit."""
    if seconds is None:
        return MediaError(
            str(path), f"{what} runs past the {human_seconds(limit)} limit (Limits.{name}); decoding stopped"
        )
    return MediaError(
        str(path),
        f"{what} is {human_seconds(seconds)} long, over the {human_seconds(limit)} limit (Limits.{name})",
    )


def stream_seconds(container: Any, stream: Any) -> float | None:
    """Duration from container metadata (no decoding); None when the container does not say."""
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        import av

        return container.duration / av.time_base
    return None


class _Samples:
    """Decoded samples gathered into one array. Preallocated when the container states the
    length, so a long file costs its samples once in memory rather than twice (a list of chunks
    plus their concatenation); a stated length that turns out short spills into chunks."""

    def __init__(self, expected: int | None):
        # np.empty reserves without touching: a header that overstates the length costs no RSS
        self.buf = np.empty(expected, np.float32) if expected else None
        self.chunks: list[np.ndarray] = []
        self.n = 0

    def add(self, a: np.ndarray) -> None:
        if self.buf is not None and self.n + a.size <= self.buf.size:
            self.buf[self.n : self.n + a.size] = a
        else:
            if self.buf is not None:
                self.chunks.append(self.buf[: self.n])
                self.buf = None
            self.chunks.append(a.astype(np.float32, copy=False))
        self.n += a.size

    def array(self) -> np.ndarray:
        if self.buf is None:
            return np.concatenate(self.chunks)
        # a view would pin the whole reservation; copy out when the header overstated a lot
        return self.buf[: self.n] if self.n >= 0.9 * self.buf.size else self.buf[: self.n].copy()


def codec_context(path: Path, stream: Any, kind: str) -> Any:
    """The stream's decoder context; a codec FFmpeg has no decoder for (an unusual WAV codec
    id, say) is a MediaError naming the file, not an AttributeError later."""
    cc = stream.codec_context
    if cc is None:
        raise MediaError(str(path), f"unsupported {kind} codec (FFmpeg has no decoder for it)")
    return cc


def decode_audio(path: Path, container: Any, stream: Any, max_seconds: float, limit_name: str, what: str) -> np.ndarray:
    """Decode one audio stream to 16 kHz mono float32 in [-1, 1].

    Corrupt packets are skipped (a few bad bytes should not lose an hour of audio); it fails
    only if nothing decodes. Stops with MediaError as soon as the decoded length passes the
    limit, for containers whose metadata did not give a duration up front.
    """
    codec_context(path, stream, "audio")
    import av

    def make_resampler() -> Any:
        # keep the source channels and average them ourselves: FFmpeg's own mono downmix
        # adds channels at -3 dB, which makes identical stereo channels 41% louder. Packed
        # (interleaved) samples, not planar: PyAV 18's to_ndarray reads past the frame's eight
        # plane pointers for planar audio with 8+ channels (7.1, 8-channel WAV) and segfaults
        return av.AudioResampler(format="flt", layout=None, rate=SAMPLE_RATE)

    resampler = make_resampler()
    max_samples = int(max_seconds * SAMPLE_RATE) + SAMPLE_RATE  # one second of slack
    stated = stream_seconds(container, stream)
    samples = _Samples(min(int(stated * SAMPLE_RATE) + SAMPLE_RATE, max_samples) if stated else None)
    first_error: Exception | None = None

    def take(frames: Any) -> None:
        for out in frames:
            channels = out.layout.nb_channels
            a = out.to_ndarray().reshape(-1, channels)  # packed: (1, samples*channels) → (samples, channels)
            a = a[:, 0] if channels == 1 else a.mean(axis=1)
            samples.add(a)

    def resample(frame: Any) -> list:
        nonlocal resampler
        try:
            return resampler.resample(frame)
        except ValueError:  # layout or rate changed mid-stream: flush and start afresh
            out = resampler.resample(None)
            resampler = make_resampler()
            return out + resampler.resample(frame)

    try:
        for packet in container.demux(stream):
            try:
                decoded = packet.decode()
            except av.error.FFmpegError as e:
                first_error = first_error or e
                continue
            for frame in decoded:
                take(resample(frame))
            if samples.n > max_samples:
                raise over_limit(path, what, None, max_seconds, limit_name)
        take(resampler.resample(None))
    except av.error.FFmpegError as e:
        # demuxing broke off (e.g. a truncated file): keep what was decoded before it
        first_error = first_error or e
    if samples.n == 0:
        detail = f": {first_error}" if first_error else ""
        raise MediaError(str(path), f"no audio samples (codec {stream.codec_context.name}){detail}")
    wav = samples.array()
    np.clip(wav, -1.0, 1.0, out=wav)  # lossy codecs can overshoot full scale
    return wav


def load(path: Path, fmt: str, limits: "Limits") -> Media:
    import av

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except Exception as e:
        raise MediaError(str(path), f"corrupt or unreadable {fmt} audio: {e}") from None
    with container:
        if not container.streams.audio:
            raise MediaError(str(path), "no audio stream in the file")
        stream = container.streams.audio[0]
        dur = stream_seconds(container, stream)
        if dur is not None and dur > limits.max_audio_seconds:
            raise over_limit(path, "audio", dur, limits.max_audio_seconds, "max_audio_seconds")
        cc = codec_context(path, stream, "audio")
        stream.thread_type = "AUTO"
        meta = {
            "format": fmt,
            "codec": cc.name,
            "source_sample_rate": cc.sample_rate,
            "channels": cc.layout.nb_channels,
        }
        wav = decode_audio(path, container, stream, limits.max_audio_seconds, "max_audio_seconds", "audio")
    return Media(
        modality=Modality.AUDIO,
        path=str(path),
        audio=wav,
        sample_rate=SAMPLE_RATE,
        duration=wav.size / SAMPLE_RATE,
        meta=meta,
    )
