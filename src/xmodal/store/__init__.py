"""Stores: where items and vectors live. `STORES` maps a name to a Store class. Searches take a
`Filter` (`filters.py`): build one from nodes, with `Filter.of(...)`, or from the `--where`
language with `parse_where`."""

from ..registry import Registry
from .base import COLUMNS, FILTERABLE, Store, pack_tokens, unpack_tokens
from .filters import And, Eq, Filter, In, IsNull, Like, Not, Or, Prefix, Range, Raw, TextMatch, evaluate, parse_where

STORES: Registry[Store] = Registry("store", Store)
STORES.register("lancedb", "xmodal.store.lance:LanceStore")

__all__ = [
    "COLUMNS", "FILTERABLE", "STORES", "Store", "pack_tokens", "unpack_tokens",
    "Filter", "Eq", "In", "Range", "IsNull", "Prefix", "Like", "TextMatch", "And", "Or", "Not", "Raw",
    "evaluate", "parse_where",
]
