"""Lance on S3-compatible object storage: `--index s3://bucket/prefix` (the `s3` extra).

The same table as a local index (`LanceStore`), under the prefix; Lance commits each version
with a conditional put, so concurrent writers never overwrite each other's commits. What a local
folder gives through the file system is made with conditional puts too (`store/objects.py`):

* the manifest `xmodal.json` beside the table, created with If-None-Match, so two processes
  creating one index agree on one manifest;
* a write lease (`write_lock()`, which every writer holds per commit, on the latest table
  version — `engine.indexer.writing`), so two writers that index the same file leave it once:
  Lance's commit protocol alone would let both insert it, or fail one on a conflict.

Readers (searches, `xmodal serve` replicas) take no lease; they move to new versions within
seconds (`READ_CONSISTENCY`, as for a local index).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import XModalError
from .base import MANIFEST
from .lance import LanceStore
from .location import S3Settings
from .objects import ObjectExists, S3Lease, S3Objects


def _objects(uri: str, storage_options: dict[str, str] | None) -> S3Objects:
    if not str(uri).startswith("s3://"):
        raise XModalError(f"{uri}: not an s3:// URI")
    return S3Objects(str(uri).rstrip("/"), S3Settings.from_lance_options(storage_options))


class S3LanceStore(LanceStore):
    """A Lance index at `s3://bucket/prefix`; `storage_options` carry endpoint and keys (see
    `store/location.py`)."""

    def __init__(self, path: str, dim: int, ann_threshold: int = 50_000,
                 storage_options: dict[str, str] | None = None, lease_ttl_s: float = 30.0, ann: Any = None):
        self.objects = _objects(path, storage_options)
        super().__init__(path, dim, ann_threshold=ann_threshold, storage_options=storage_options, ann=ann)
        self.lease = S3Lease(self.objects, ttl_s=lease_ttl_s)

    def write_lock(self) -> S3Lease:
        return self.lease

    # -- manifest ----------------------------------------------------------------------------
    @classmethod
    def read_manifest_at(cls, path: str | Path, storage_options: dict[str, str] | None = None,
                         **_: Any) -> dict[str, Any] | None:
        got = _objects(str(path), storage_options).get(MANIFEST)
        return json.loads(got.data) if got is not None else None

    def read_manifest(self) -> dict[str, Any] | None:
        got = self.objects.get(MANIFEST)
        return json.loads(got.data) if got is not None else None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        # one PUT: readers see the old or the new object, never half of it
        self.objects.put(MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())

    def create_manifest(self, manifest: dict[str, Any]) -> dict[str, Any]:
        try:  # If-None-Match: of two processes creating the index, the first one's manifest stays
            self.objects.put(MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode(), create=True)
            return manifest
        except ObjectExists:
            return self.read_manifest() or manifest
