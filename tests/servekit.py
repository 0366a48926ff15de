"""What the serve tests share: a small real index of every modality built without heavy models,
a fake LLM backend for `ask`, and a real uvicorn server on 127.0.0.1 (port 0) in a thread.

Audio goes through `ToneAudioEncoder`, a test encoder that hears only pitch: each second of sound
becomes the MiniLM embedding of "a low hum" or "a high whistle", so a text query finds the very
second of a sound where the whistle starts, exactly as the real encoder finds a bark.
"""

from __future__ import annotations

import threading
import time
import wave
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, ClassVar, Iterator

import numpy as np

from llm_fakes import KeywordLLM
from mediagen import make_html, make_image, make_pdf, make_svg, make_text, make_video
from xmodal.encode import ENCODERS, Encoder, l2_normalize
from xmodal.llm import BACKENDS
from xmodal.types import Embedding, Media, Modality, Segment

PROFILE = {
    "name": "serve-test",
    "text": {"encoder": "minilm-int8"},
    "image": {"encoder": "conse-effnet", "args": {"ocr": False}},
    "audio": {"encoder": "test-tone"},
    "video": {"encoder": "frames-audio"},
    "document": {"encoder": "pages"},
}
LOW, HIGH = "a low hum", "a high whistle"
API_KEY = "write-key-0123456789abcdef"
READ_KEY = "read-key-0123456789abcdef"


class ToneAudioEncoder(Encoder):
    """Per second of audio: 'a high whistle' above 1 kHz, else 'a low hum', in the text space."""

    modalities: ClassVar[frozenset[Modality]] = frozenset({Modality.AUDIO})
    composite: ClassVar[bool] = True

    def __init__(self, space: Any):
        self.space = space

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.space.encoder(Modality.TEXT).dim

    def config(self) -> dict[str, Any]:
        return {"encoder": "test-tone", "dim": self.dim}

    def encode(self, media):
        text = self.space.encoder(Modality.TEXT)
        out = []
        for m in media:
            sr = m.sample_rate
            labels = []
            for start in range(0, max(1, int(np.ceil(len(m.audio) / sr)))):
                chunk = m.audio[start * sr : (start + 1) * sr]
                spectrum = np.abs(np.fft.rfft(chunk)) if len(chunk) else np.zeros(1)
                hz = np.argmax(spectrum) * sr / max(len(chunk), 1)
                labels.append(HIGH if hz > 1000 else LOW)
            vecs = np.stack([text.encode([Media(Modality.TEXT, text=t)])[0].vector for t in labels])
            segs = [Segment("window", index=i, start=float(i), end=float(i + 1), text=t) for i, t in enumerate(labels)]
            out.append(Embedding(vector=l2_normalize(vecs.mean(0)), tokens=vecs, segments=segs, text="; ".join(dict.fromkeys(labels))))
        return out


class FakeChat(KeywordLLM):
    """The keyword fake, constructible by name (the refiner passes model=…) with a cited answer."""

    def __init__(self, **_: Any) -> None:
        super().__init__(reply="The whistle [1].")


def two_tones(path: Path, low_s: int = 2, high_s: int = 1, sr: int = 16000) -> Path:
    """A WAV: a 200 Hz hum for `low_s` seconds, then a 2 kHz whistle for `high_s` seconds."""
    t = np.arange(sr * (low_s + high_s)) / sr
    wave_ = np.where(t < low_s, np.sin(2 * np.pi * 200 * t), np.sin(2 * np.pi * 2000 * t)) * 0.4
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((wave_ * 32767).astype("<i2").tobytes())
    return path


def build_media(root: Path) -> dict[str, Path]:
    return {
        "red.png": make_image(root / "red.png", size=(96, 64), color=(220, 20, 20)),
        "blue.jpg": make_image(root / "blue.jpg", size=(64, 96), color=(20, 20, 220)),
        "tones.wav": two_tones(root / "tones.wav"),
        "clip.webm": make_video(root / "clip.webm", seconds=3, size=(96, 64)),
        "report.pdf": make_pdf(root / "report.pdf", ["Quarterly report on orchestra ticket sales.",
                                                    "Appendix: the canteen menu of soups and stews."]),
        "violin.txt": make_text(root / "violin.txt", "The violin is a string instrument played with a bow."),
        "drawing.svg": make_svg(root / "drawing.svg"),
        "page.html": make_html(root / "page.html", title="Bread", body="<p>Bake bread with flour and yeast.</p>"),
    }


@contextmanager
def registered() -> Iterator[None]:
    """The test encoder and the fake LLM, registered for as long as the index is used."""
    with ExitStack() as stack:
        stack.enter_context(ENCODERS.registered("test-tone", ToneAudioEncoder))
        stack.enter_context(BACKENDS.registered("serve-fake", FakeChat))
        yield


def build_index(folder: Path):
    import xmodal

    media = build_media(folder / "media")
    idx = xmodal.open(folder / "idx", PROFILE)
    report = idx.add([folder / "media"])
    assert not report.failed, report.failed
    idx.add_texts([("note-castle", "The ruined castle stands on a hill above the river."),
                   ("note-bread", "Bake bread with flour, water, salt and yeast.")])
    return idx, media


@contextmanager
def uvicorn_server(app) -> Iterator[str]:
    """Serve `app` on 127.0.0.1, any free port, in a thread; yields the base URL; stops on exit."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
