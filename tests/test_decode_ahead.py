"""How far the indexer decodes ahead of the encoder (issue 14): a whole batch ahead while the
decoded items are small, so the workers decode the next batch while this one is embedded; only a
few ahead once an item is large, so long recordings and videos are not all held at once."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import xmodal.engine.indexer as indexer_mod
from xmodal.media import Limits
from xmodal.media.worker import Outcome
from xmodal.types import Media, Modality


class _Decoder:
    """Answers every file at once with a decoded item of `nbytes` bytes; counts submissions."""

    workers, chunk = 2, 1

    def __init__(self, nbytes: int) -> None:
        self.nbytes, self.submitted = nbytes, 0

    def submit(self, job) -> Future:
        self.submitted += 1
        fut: Future = Future()
        fut.set_result(Outcome(media=Media(Modality.AUDIO, audio=np.zeros(self.nbytes // 4, np.float32)), digest="d"))
        return fut


def _most_ahead(nbytes: int, files: int = 100) -> int:
    decoder = _Decoder(nbytes)
    indexer = indexer_mod.Indexer(SimpleNamespace(spec={}, name="p"), None, Limits(), batch_size=32, decoder=decoder)
    jobs = [indexer_mod._Job(Path(f"/f/{i}"), f"/f/{i}", str(i), None, SimpleNamespace(st_size=1)) for i in range(files)]
    most = 0
    for consumed, _ in enumerate(indexer._decoded(jobs), 1):
        most = max(most, decoder.submitted - consumed)
    assert consumed == files
    return most


def test_small_items_decode_a_whole_batch_ahead(monkeypatch):
    monkeypatch.setattr(indexer_mod, "MAX_BATCH_BYTES", 100_000)
    assert _most_ahead(400) == 32 + 2 * 2  # a batch plus two files per worker


def test_large_items_decode_only_a_few_ahead(monkeypatch):
    monkeypatch.setattr(indexer_mod, "MAX_BATCH_BYTES", 100_000)
    assert _most_ahead(40_000) == 8 + 2 * 2


@pytest.mark.parametrize("nbytes", [4_000, 10_000])
def test_what_is_held_ahead_stays_within_the_batch_budget(monkeypatch, nbytes):
    monkeypatch.setattr(indexer_mod, "MAX_BATCH_BYTES", 100_000)
    assert _most_ahead(nbytes) == max(12, min(36, 100_000 // nbytes))
