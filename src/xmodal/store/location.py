"""Where an index lives, from the one string users give (`--index`, `xmodal.open(...)`, serve):

    my-index, /data/idx, file:///data/idx   → Lance in a local folder (the embedded default)
    s3://bucket/prefix                      → Lance on S3-compatible object storage
    milvus://host:port/collection           → a Milvus collection

`resolve_index` turns the string into an `IndexLocation`: the registered store (`STORES`) and
the keyword options its constructor and its `read_manifest_at` take. Nothing is opened here.

S3 settings come from the usual AWS environment variables (`AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`/`AWS_DEFAULT_REGION`,
`AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL` for S3-compatible servers such as Ceph radosgw or
MinIO, `AWS_ALLOW_HTTP`), or from a small JSON file named by `$XMODAL_S3_CONFIG`
(`{"endpoint", "region", "access_key_id", "secret_access_key", "session_token", "allow_http"}`);
the environment wins. Milvus takes `$MILVUS_TOKEN` (`user:password` or an API key) and the
URI's query: `milvus://host:port/collection?consistency=Strong`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import XModalError

if TYPE_CHECKING:
    from .base import Store

SCHEMES = ("s3", "milvus", "file")


@dataclass(frozen=True)
class IndexLocation:
    """A resolved index URI. `options` are the store constructor's keyword arguments (besides
    `dim`); `path` is the local folder of a local index, else None."""

    uri: str
    store: str
    options: dict[str, Any] = field(default_factory=dict, compare=False)
    path: Path | None = None

    @property
    def is_local(self) -> bool:
        return self.path is not None

    def store_class(self) -> "type[Store]":
        from . import STORES

        return STORES.resolve(self.store)

    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest of the index here, None where there is no index yet; reading it opens
        no table (the store's vector size comes from it)."""
        return self.store_class().read_manifest_at(**self.options)

    def open(self, dim: int, **extra: Any) -> "Store":
        return self.store_class()(dim=dim, **{**self.options, **extra})

    def __str__(self) -> str:
        return self.uri


def resolve_index(index: "str | Path | IndexLocation", store: str | None = None,
                  options: dict[str, Any] | None = None) -> IndexLocation:
    """The store and options for an index URI or path (see the module docstring). `store` forces
    a registered store for a local folder; `options` are added to the store's options."""
    if isinstance(index, IndexLocation):
        return index
    extra = dict(options or {})
    text = os.fspath(index)
    scheme = _scheme(text)
    if scheme == "s3":
        if store not in (None, "lancedb", "lancedb-s3"):
            raise XModalError(f"{text}: an s3:// index is a Lance table; store {store!r} cannot open it")
        bucket, prefix = _s3_parts(text)
        uri = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        return IndexLocation(uri, "lancedb-s3", {"path": uri, "storage_options": s3_settings().lance_options(), **extra})
    if scheme == "milvus":
        if store not in (None, "milvus"):
            raise XModalError(f"{text}: a milvus:// index is a Milvus collection; store {store!r} cannot open it")
        return _milvus_location(text, extra)
    if scheme == "file":
        text = unquote(urlsplit(text).path)
    elif scheme is not None:
        raise XModalError(f"{text}: unknown index URI scheme {scheme!r}; use a folder, s3://bucket/prefix or milvus://host:port/collection")
    path = Path(text)
    return IndexLocation(str(path), store or "lancedb", {"path": path, **extra}, path=path)


def _scheme(text: str) -> str | None:
    m = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", text)
    return m.group(1).lower() if m else None


def _s3_parts(text: str) -> tuple[str, str]:
    parts = urlsplit(text)
    bucket, prefix = parts.netloc, parts.path.strip("/")
    if not bucket:
        raise XModalError(f"{text}: give a bucket: s3://bucket/prefix")
    if parts.query or parts.fragment:
        raise XModalError(f"{text}: an s3:// index takes no query; endpoint and keys come from AWS_* variables or $XMODAL_S3_CONFIG")
    return bucket, prefix


def _milvus_location(text: str, extra: dict[str, Any]) -> IndexLocation:
    parts = urlsplit(text)
    collection = parts.path.strip("/")
    try:
        port = parts.port or 19530
    except ValueError:
        raise XModalError(f"{text}: the port is not a number") from None
    if not parts.hostname or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,200}", collection or ""):
        raise XModalError(f"{text}: expected milvus://host:port/collection (a collection name is letters, digits and _, "
                          "starting with a letter or _)")
    query = dict(parse_qsl(parts.query))
    unknown = set(query) - {"consistency"}
    if unknown:
        raise XModalError(f"{text}: unknown option {', '.join(sorted(unknown))}; known: consistency")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    options: dict[str, Any] = {"uri": f"http://{host}:{port}", "collection": collection}
    if "consistency" in query:
        options["consistency"] = query["consistency"]
    if os.environ.get("MILVUS_TOKEN"):
        options["token"] = os.environ["MILVUS_TOKEN"]
    options.update(extra)
    shown = f"milvus://{host}:{port}/{collection}" + (f"?consistency={query['consistency']}" if "consistency" in query else "")
    return IndexLocation(shown, "milvus", options)


@dataclass(frozen=True)
class S3Settings:
    """Endpoint and credentials of an S3-compatible store; None fields are left to the client's
    own defaults (instance credentials, AWS's endpoint)."""

    endpoint: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    allow_http: bool = False

    # the Rust object_store keys lancedb/Lance take as `storage_options`, per field
    _LANCE_KEYS = {"endpoint": "aws_endpoint", "region": "aws_region", "access_key_id": "aws_access_key_id",
                   "secret_access_key": "aws_secret_access_key", "session_token": "aws_session_token"}

    def lance_options(self) -> dict[str, str]:
        """`storage_options` for lancedb/Lance."""
        out = {key: getattr(self, name) for name, key in self._LANCE_KEYS.items() if getattr(self, name)}
        if self.allow_http:
            out["allow_http"] = "true"
        return out

    @classmethod
    def from_lance_options(cls, options: dict[str, str] | None) -> "S3Settings":
        o = options or {}
        return cls(**{name: o.get(key) for name, key in cls._LANCE_KEYS.items()},
                   allow_http=str(o.get("allow_http", "")).lower() == "true")


def s3_settings(env: dict[str, str] | None = None) -> S3Settings:
    """S3 settings from the environment, then `$XMODAL_S3_CONFIG` (see the module docstring)."""
    env = os.environ if env is None else env
    conf: dict[str, Any] = {}
    if env.get("XMODAL_S3_CONFIG"):
        f = Path(env["XMODAL_S3_CONFIG"]).expanduser()
        try:
            conf = json.loads(f.read_text())
        except (OSError, ValueError) as exc:
            raise XModalError(f"{f} ($XMODAL_S3_CONFIG): cannot read it: {exc}") from None
        unknown = set(conf) - set(S3Settings.__dataclass_fields__)
        if not isinstance(conf, dict) or unknown:
            raise XModalError(f"{f} ($XMODAL_S3_CONFIG): expected a JSON object with keys "
                              f"{', '.join(S3Settings.__dataclass_fields__)}" + (f"; unknown: {', '.join(sorted(unknown))}" if unknown else ""))

    def pick(key: str, *names: str) -> Any:
        for n in names:
            if env.get(n):
                return env[n]
        return conf.get(key)

    endpoint = pick("endpoint", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")
    allow = pick("allow_http", "AWS_ALLOW_HTTP")
    allow_http = str(allow).lower() in ("1", "true", "yes") if allow is not None else bool(endpoint and endpoint.startswith("http://"))
    return S3Settings(
        endpoint=endpoint,
        region=pick("region", "AWS_REGION", "AWS_DEFAULT_REGION") or ("us-east-1" if endpoint else None),
        access_key_id=pick("access_key_id", "AWS_ACCESS_KEY_ID"),
        secret_access_key=pick("secret_access_key", "AWS_SECRET_ACCESS_KEY"),
        session_token=pick("session_token", "AWS_SESSION_TOKEN"),
        allow_http=allow_http,
    )
