"""Small objects beside an index on S3-compatible storage: the manifest (`xmodal.json`) and the
write lease. Lance keeps its table there itself; these few files need what a folder gives a
local index — atomic replace and create-if-absent — which object stores offer as conditional
puts (`If-None-Match: *`, `If-Match: <etag>`), reached through obstore (the Python face of the
Rust object_store crate Lance uses; the `s3` extra).

radosgw (Ceph 16) compares If-Match with the bare ETag only, so ETags are sent unquoted; AWS S3
and MinIO accept that form too.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import XModalError
from .location import S3Settings
from .lock import IndexBusy, LockOwner, WriteLock


@dataclass
class Versioned:
    """An object's bytes and the ETag a conditional replace names."""

    data: bytes
    etag: str


class ObjectExists(XModalError):
    """A create-if-absent found the object already there (another writer made it first)."""


class ObjectChanged(XModalError):
    """A replace-if-unchanged found the object changed since it was read."""


class S3Objects:
    """The objects under one `s3://bucket/prefix`, by name relative to the prefix."""

    def __init__(self, uri: str, settings: S3Settings):
        try:
            import obstore  # noqa: F401
            from obstore.store import S3Store
        except ImportError:
            raise XModalError(f"{uri}: an index on S3 needs the s3 extra: pip install 'xmodal[s3]'") from None
        parts = urlsplit(uri)
        self.uri = uri
        config: dict[str, Any] = {
            k: v for k, v in {"endpoint": settings.endpoint, "region": settings.region,
                              "access_key_id": settings.access_key_id,
                              "secret_access_key": settings.secret_access_key,
                              "session_token": settings.session_token}.items() if v
        }
        prefix = parts.path.strip("/") or None
        self._store = S3Store(parts.netloc, prefix=prefix, config=config,
                              client_options={"allow_http": settings.allow_http, "timeout": "60s"})

    def get(self, name: str) -> Versioned | None:
        import obstore

        try:
            got = obstore.get(self._store, name)
        except FileNotFoundError:
            return None
        return Versioned(bytes(got.bytes()), str(got.meta.get("e_tag") or "").strip('"'))

    def put(self, name: str, data: bytes, *, create: bool = False, replace: str | None = None) -> str:
        """Write `data`; create: only if absent (else ObjectExists); replace=ETAG: only if the
        object still has that ETag (else ObjectChanged). Returns the new (bare) ETag."""
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        mode: Any = "create" if create else {"e_tag": replace.strip('"')} if replace else "overwrite"
        try:
            out = obstore.put(self._store, name, data, mode=mode)
        except AlreadyExistsError:
            raise ObjectExists(f"{self.uri}/{name}: already exists") from None
        except PreconditionError:
            raise ObjectChanged(f"{self.uri}/{name}: changed by another writer") from None
        return str(out.get("e_tag") or "").strip('"')

    def delete(self, name: str) -> None:
        import obstore

        try:
            obstore.delete(self._store, name)
        except FileNotFoundError:
            pass


LEASE = ".xmodal-write.lease"


class S3Lease(WriteLock):
    """The write lock of an index on object storage, where no file lock exists: a lease object
    made with a conditional create (If-None-Match: *) holding its owner and an expiry, renewed
    by a thread while held, deleted on release. A lease past its expiry is stale (its holder
    died) and is taken over with a conditional replace on its ETag, so of two writers that find
    it stale only one wins. Re-entrant within a thread; other threads and processes wait
    (`store.lock.WriteLock`).

    Clocks: expiry is the holder's wall clock plus `ttl_s`; hosts whose clocks differ by more
    than `ttl_s` could take a live lease — keep them in sync (NTP) or raise `ttl_s`.
    """

    POLL_S = 0.1

    def __init__(self, objects: S3Objects, ttl_s: float = 30.0, timeout_s: float | None = 600.0):
        super().__init__()
        self.objects = objects
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s  # default wait for acquire()
        self._etag: str | None = None
        self._token = ""
        self._since = 0.0
        self._stop: threading.Event | None = None
        self._renewing = threading.Lock()  # a renewal's put and the ETag it returns go together

    def _record(self) -> bytes:
        return json.dumps({"token": self._token, "pid": os.getpid(), "host": socket.gethostname(),
                           "since": self._since, "what": " ".join(sys.argv)[:200],
                           "expires": time.time() + self.ttl_s}).encode()

    def owner(self) -> LockOwner | None:
        got = self.objects.get(LEASE)
        try:
            held = json.loads(got.data) if got is not None else None
            return LockOwner(held["pid"], held["host"], held.get("since", 0.0), held.get("what", "")) if held else None
        except (ValueError, KeyError, TypeError):
            return None

    def acquire(self, timeout: float | None = None) -> None:
        super().acquire(self.timeout_s if timeout is None else timeout)

    def _acquire(self, timeout: float | None) -> None:
        self._token, self._since = uuid.uuid4().hex, time.time()
        start = time.monotonic()
        while True:
            try:
                self._etag = self.objects.put(LEASE, self._record(), create=True)
                break
            except ObjectExists:
                pass
            held = self.objects.get(LEASE)
            if held is not None:
                try:
                    expired = json.loads(held.data).get("expires", 0) < time.time()
                except ValueError:
                    expired = True  # not a lease we wrote: treat as stale
                if expired:
                    try:
                        self._etag = self.objects.put(LEASE, self._record(), replace=held.etag)
                        break
                    except ObjectChanged:
                        pass  # another writer renewed or took it first
            if timeout is not None and time.monotonic() - start > timeout:
                owner = self.owner()
                raise IndexBusy(f"{self.objects.uri}: another writer holds the index"
                                f"{f' ({owner.describe()})' if owner else ''}; waited {timeout:.0f} s")
            time.sleep(self.POLL_S)
        self._start_renewing()

    def _start_renewing(self) -> None:
        stop = self._stop = threading.Event()

        def renew() -> None:
            while not stop.wait(self.ttl_s / 3):
                with self._renewing:
                    if stop.is_set():
                        return
                    try:
                        self._etag = self.objects.put(LEASE, self._record(), replace=self._etag)
                    except ObjectChanged:  # another writer took it over: the next commit finds out
                        return
                    except Exception:  # the store is away for a moment: try again at the next tick
                        continue

        threading.Thread(target=renew, name="xmodal-s3-lease", daemon=True).start()

    def _release(self) -> None:
        with self._renewing:
            if self._stop is not None:
                self._stop.set()
        held = self.objects.get(LEASE)  # delete only our own lease (object stores have no
        if held is not None and held.etag == self._etag:  # conditional delete: check first)
            self.objects.delete(LEASE)
