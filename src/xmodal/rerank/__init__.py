"""Second stage: rerankers registered by name (`--rerank attention`, `--rerank llm`)."""

from ..registry import Registry
from .base import Candidate, Reranker, RerankQuery, RerankScore, fuse_scores, rerank_results

RERANKERS: Registry[Reranker] = Registry("reranker", Reranker)
RERANKERS.register("attention", "xmodal.rerank.attention:AttentionReranker")
RERANKERS.register("llm", "xmodal.rerank.llm:LLMReranker")

__all__ = ["RERANKERS", "Candidate", "Reranker", "RerankQuery", "RerankScore", "fuse_scores", "rerank_results"]
