"""Stores: where items and vectors live. `STORES` maps a name to a Store class, and
`resolve_index` maps an index URI (a folder, `s3://bucket/prefix`, `milvus://host:port/collection`)
to one of them with its options (`location.py`). Searches take a `Filter` (`filters.py`): build
one from nodes, with `Filter.of(...)`, or from the `--where` language with `parse_where`."""

from ..registry import Registry
from .base import COLUMNS, FILTERABLE, TEXT_SEARCH, TOKEN_FEATURES, Store, pack_tokens, unpack_tokens
from .location import IndexLocation, resolve_index
from .filters import And, Eq, Filter, In, IsNull, Like, Not, Or, Prefix, Range, Raw, TextMatch, evaluate, parse_where

STORES: Registry[Store] = Registry("store", Store)
STORES.register("lancedb", "xmodal.store.lance:LanceStore")
STORES.register("lancedb-s3", "xmodal.store.lance_s3:S3LanceStore")
STORES.register("milvus", "xmodal.store.milvus:MilvusStore")

__all__ = [
    "COLUMNS", "FILTERABLE", "STORES", "Store", "pack_tokens", "unpack_tokens",
    "TEXT_SEARCH", "TOKEN_FEATURES", "IndexLocation", "resolve_index",
    "Filter", "Eq", "In", "Range", "IsNull", "Prefix", "Like", "TextMatch", "And", "Or", "Not", "Raw",
    "evaluate", "parse_where",
]
