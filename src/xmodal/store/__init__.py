"""Stores: where items and vectors live. `STORES` maps a name to a Store class."""

from ..registry import Registry
from .base import COLUMNS, Store, pack_tokens, unpack_tokens

STORES: Registry[Store] = Registry("store", Store)
STORES.register("lancedb", "xmodal.store.lance:LanceStore")

__all__ = ["COLUMNS", "STORES", "Store", "pack_tokens", "unpack_tokens"]
