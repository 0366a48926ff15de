"""What a server is allowed to do: keys, bounds, folders, hosts. One frozen object, built by the
`xmodal serve` command (or a test) and handed to `create_app`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from xmodal.errors import XModalError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
MiB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Args:
        api_key: required by every write endpoint; None disables writes (403).
        read_key: when set, reads need it too (or the api key); the web page asks for it once.
        max_upload_bytes: the whole request body of an upload, counted before it is spooled.
        max_k / max_offset: a search returns at most max_k results, from at most max_offset deep.
        max_query_chars: the text query and the `where` filter, each.
        max_encodes / max_waiting: concurrent query encodes, and how many may queue for a slot;
            beyond that the answer is 429.
        max_asks: concurrent `ask` requests (an LLM is one at a time on a small machine).
        allowed_hosts: Host header values accepted (TrustedHostMiddleware).
        cors_origins: origins allowed to call the API from a browser; empty: no CORS headers.
        work_dir: uploads kept as items (uploads/), thumbnails (thumbnails/), query temp files (tmp/).
        llm_backend / llm_model / llm_base_url: what `ask` uses; chosen here, never by a client.
        ask_time_budget_s: the most a client may give the refine stage.
    """

    api_key: str | None = None
    read_key: str | None = None
    max_upload_bytes: int = 64 * MiB
    max_k: int = 100
    max_offset: int = 1000
    max_query_chars: int = 1000
    max_encodes: int = 2
    max_waiting: int = 64
    max_asks: int = 1
    allowed_hosts: tuple[str, ...] = LOOPBACK
    cors_origins: tuple[str, ...] = ()
    work_dir: Path | None = None
    llm_backend: str = "llamacpp"
    llm_model: str | None = None
    llm_base_url: str | None = None
    ask_time_budget_s: float = 30.0
    result_text_chars: int = 2000
    thumbnail_px: int = 320

    def __repr__(self) -> str:  # keys never reach a log line or a traceback
        hidden = {"api_key", "read_key"}
        parts = ", ".join(f"{k}={'***' if k in hidden and getattr(self, k) else getattr(self, k)!r}"
                          for k in self.__dataclass_fields__)
        return f"Settings({parts})"

    __str__ = __repr__


def read_key(file: str | Path | None, env: str) -> str | None:
    """A key from a file (first line, stripped) or else from the environment variable `env`.

    A key file readable by other users is refused: the key is a password."""
    if file is not None:
        path = Path(file)
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise XModalError(f"{path}: cannot read the key file: {exc.strerror or exc}") from None
        if mode & 0o077:
            raise XModalError(f"{path}: key file is readable by other users; chmod 600 it")
        key = text.strip().splitlines()[0].strip() if text.strip() else ""
    else:
        key = os.environ.get(env, "").strip()
        if not key:
            return None
    if len(key) < 16:
        raise XModalError(f"{file or '$' + env}: the key is {len(key)} characters; use at least 16")
    return key


def check_bind(host: str, settings: Settings) -> None:
    """Refuse to listen beyond this machine without a key: an open index is anyone's index."""
    if host not in LOOPBACK and not (settings.api_key or settings.read_key):
        raise XModalError(f"refusing to listen on {host} without a key: give --read-key-file (and "
                          "--api-key-file for writes), or bind 127.0.0.1")
