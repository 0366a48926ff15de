"""Optical character recognition for images: RapidOCR (PP-OCRv4 ONNX models shipped in the wheel)."""

from __future__ import annotations

import contextlib
import importlib.util
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import ModelUnavailable
from .base import package_version

if TYPE_CHECKING:
    from PIL.Image import Image

_PIP_HINT = "pip install rapidocr-onnxruntime==1.4.4"
# (threads, det side, min score) -> (engine, lock): RapidOCR keeps per-call state on the engine, so one caller at a time
_ENGINES: dict[tuple[int, int, float], tuple[Any, threading.Lock]] = {}
_LOCK = threading.Lock()


@contextlib.contextmanager
def _sleeping_intra_op_threads() -> Iterator[None]:
    """While RapidOCR builds its three ONNX sessions, have their intra-op threads sleep when idle
    instead of spinning (RapidOCR offers no option for it). A spinning pool thread burnt as much
    CPU as the OCR itself, beside the image model and the decode workers on a 2-core machine
    (benchmarks/README.md, "Image ingest overlap"); the text read is the same either way."""
    from rapidocr_onnxruntime.utils import infer_engine

    make_options = vars(getattr(infer_engine, "OrtInferSession", object)).get("_init_sess_opts")
    if not isinstance(make_options, staticmethod):  # another RapidOCR than the pinned one: leave it be
        yield
        return

    def sleeping(config: dict[str, Any]) -> Any:
        opts = make_options.__func__(config)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return opts

    infer_engine.OrtInferSession._init_sess_opts = staticmethod(sleeping)
    try:
        yield
    finally:
        infer_engine.OrtInferSession._init_sess_opts = make_options


class OCR:
    """Reads the text of an image: `read(img) -> (text in reading order, mean confidence)`.

    The RapidOCR engine is created once per process (per settings) on first use. Images whose
    long side exceeds `max_side` are downscaled first, and detection runs with the long side
    capped at `det_side`: cost grows with pixels, and text small enough to be lost that way
    rarely matters for retrieval. Lines scoring under `min_score` are dropped.
    """

    def __init__(
        self, threads: int = 2, max_side: int = 1600, det_side: int = 960, min_score: float = 0.5
    ) -> None:
        self.threads = int(threads)
        self.max_side = int(max_side)
        self.det_side = int(det_side)
        self.min_score = float(min_score)

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        ok = importlib.util.find_spec("rapidocr_onnxruntime") is not None
        return ok, "" if ok else _PIP_HINT

    def config(self) -> dict[str, Any]:
        return {"ocr": "rapidocr-onnxruntime", "version": package_version("rapidocr-onnxruntime"), "max_side": self.max_side,
                "det_side": self.det_side, "min_score": self.min_score}

    def _engine(self) -> tuple[Any, threading.Lock]:
        with _LOCK:
            key = (self.threads, self.det_side, self.min_score)
            entry = _ENGINES.get(key)
            if entry is None:
                try:
                    from rapidocr_onnxruntime import RapidOCR
                except ImportError as e:
                    raise ModelUnavailable(f"OCR is not installed: {_PIP_HINT}") from e
                with _sleeping_intra_op_threads():
                    eng = RapidOCR(
                        intra_op_num_threads=self.threads,
                        inter_op_num_threads=1,
                        text_score=self.min_score,
                        # RapidOCR's default scales the SHORT side up to 736 px before detection, which
                        # costs ~5x more on photos; capping the long side at 960 (PaddleOCR's own
                        # default) read our test text as well at ~0.07 s an image on 2 cores.
                        det_limit_type="max",
                        det_limit_side_len=self.det_side,
                    )
                entry = _ENGINES[key] = (eng, threading.Lock())
        return entry

    def read(self, image: "Image") -> tuple[str, float]:
        """(joined text in reading order, mean line confidence); ("", 0.0) when nothing is found."""
        import numpy as np
        from PIL import Image as PILImage

        from ..media.image import to_rgb

        img = to_rgb(image)  # transparency onto white: black text on a transparent sheet stays legible
        if max(img.size) > self.max_side:
            scale = self.max_side / max(img.size)
            img = img.resize(
                (max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                PILImage.Resampling.BILINEAR,
            )
        # RapidOCR wants BGR arrays (it converts PIL input itself, but an array skips a copy)
        arr = np.ascontiguousarray(np.asarray(img)[:, :, ::-1])
        eng, lock = self._engine()
        with lock:
            result, _ = eng(arr)
        if not result:
            return "", 0.0
        # RapidOCR returns [box, text, score] lines already sorted top-to-bottom, left-to-right
        lines = [(str(r[1]).strip(), float(r[2])) for r in result if str(r[1]).strip()]
        if not lines:
            return "", 0.0
        text = " ".join(t for t, _ in lines)
        conf = sum(s for _, s in lines) / len(lines)
        return text, conf
