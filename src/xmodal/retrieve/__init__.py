"""First-stage retrieval: ANN over the shared space, full-text over extracted text, fused."""

from .fusion import reciprocal_rank_fusion
from .hybrid import HybridRetriever, locate_segment, modality_filter

__all__ = ["HybridRetriever", "locate_segment", "modality_filter", "reciprocal_rank_fusion"]
