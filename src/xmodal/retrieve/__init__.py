"""First-stage retrieval: vector search over the shared space plus full-text search over extracted text."""

from .hybrid import HybridRetriever, locate_segment, modality_filter

__all__ = ["HybridRetriever", "locate_segment", "modality_filter"]
