"""The `--index` option every command shares: a folder, `s3://bucket/prefix` or
`milvus://host:port/collection` (`xmodal.store.location`), and the check that an index is there."""

from __future__ import annotations

import os

import typer

INDEX_HELP = ("Where the index is ($XMODAL_INDEX): a folder (Lance), s3://bucket/prefix (Lance on object storage; "
              "endpoint and keys from AWS_* variables or $XMODAL_S3_CONFIG) or milvus://host:port/collection.")


def index_option() -> str:
    return typer.Option(os.environ.get("XMODAL_INDEX", "xmodal-index"), "--index", "-i", help=INDEX_HELP)


def missing_index(index: str) -> str | None:
    """Why there is no index to open at `index` (a one-line message), or None when something is
    there (opening it then says what, if anything, is wrong with it). Reads only the manifest:
    nothing is created."""
    from xmodal.errors import XModalError
    from xmodal.store import resolve_index

    try:
        location = resolve_index(index)
    except XModalError as exc:
        return str(exc)
    try:
        if location.read_manifest() is not None:
            return None
    except Exception:  # garbage, an unreachable server: Index() names the problem in one line
        return None
    return f"no index at {location.uri} (run `xmodal index PATH --index {index}` first)"
