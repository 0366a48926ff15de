"""First-stage retrieval: vector search over the shared space plus full-text search over extracted
text. `RETRIEVERS` maps a name to a Retriever class (the engine takes `retriever="hybrid"`)."""

from ..registry import Registry
from .base import Retriever
from .hybrid import HybridRetriever, locate_segment

RETRIEVERS: Registry[Retriever] = Registry("retriever", Retriever)
RETRIEVERS.register("hybrid", HybridRetriever)

__all__ = ["RETRIEVERS", "HybridRetriever", "Retriever", "locate_segment"]
