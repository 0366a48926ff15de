"""Documents (PDF): each page's text through the space's text encoder, and the page rendering
through its image encoder for pages with little text (slides, scans, charts). Page vectors are
the tokens; the document vector is their normalised mean.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np

from ..errors import MediaError
from ..types import Embedding, Media, Modality, Segment
from .base import Encoder, EncoderSet, l2_normalize



class PageDocumentEncoder(Encoder):
    modalities: ClassVar[frozenset[Modality]] = frozenset({Modality.DOCUMENT})
    composite: ClassVar[bool] = True

    def __init__(self, space: EncoderSet, image_weight: float = 0.5, text_poor_chars: int = 200):
        self.space = space
        self.image_weight = image_weight
        self.text_poor_chars = text_poor_chars  # pages with less text also get their rendering embedded

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.space.encoder(Modality.TEXT).dim

    def config(self) -> dict[str, Any]:
        return {"encoder": "pages", "image_weight": self.image_weight, "text_poor_chars": self.text_poor_chars}

    def encode(self, media: Sequence[Media]) -> list[Embedding]:
        text_enc = self.space.encoder(Modality.TEXT)
        has_images = Modality.IMAGE in self.space.modalities
        out = []
        for m in media:
            pages = m.page_texts or ([m.text] if m.text else [])
            n = max(len(pages), len(m.images))
            if n == 0:
                raise MediaError(m.path, "document has no pages")
            pages = pages + [""] * (n - len(pages))
            texts = [Media(Modality.TEXT, text=t) for t in pages if t.strip()]
            text_vecs = iter(e.vector for e in text_enc.encode(texts)) if texts else iter(())
            poor = [i for i, t in enumerate(pages) if len(t.strip()) < self.text_poor_chars and i < len(m.images)]
            img_vecs: dict[int, Embedding] = {}
            if has_images and poor:
                embs = self.space.encoder(Modality.IMAGE).encode([Media(Modality.IMAGE, path=m.path, images=[m.images[i]]) for i in poor])
                img_vecs = dict(zip(poor, embs))
            tokens, segments, ocr = [], [], []
            for i, t in enumerate(pages):
                v = next(text_vecs) if t.strip() else np.zeros(self.dim, np.float32)
                if i in img_vecs:
                    v = v + self.image_weight * img_vecs[i].vector
                    if img_vecs[i].text and not t.strip():
                        ocr.append(img_vecs[i].text)  # a scanned page: its OCR text is its text
                if not np.any(v):
                    continue
                tokens.append(l2_normalize(v))
                segments.append(Segment("page", index=i, page=i + 1, text=(t.strip() or (img_vecs[i].text if i in img_vecs else ""))[:300]))
            if not tokens:
                raise MediaError(m.path, "document pages have neither text nor an embeddable rendering")
            tok = np.stack(tokens)
            out.append(Embedding(vector=l2_normalize(tok.mean(0)), tokens=tok, segments=segments, text="\n\n".join([m.text.strip()] + ocr).strip()))
        return out
