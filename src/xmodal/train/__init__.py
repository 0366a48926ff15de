"""Training (tooling): binding heads (`bind`, with the pair sources and feature cache in `pairs`)
and the attention reranker (`rerank`). Imports the runtime stages; nothing at run time imports this.

    xmodal train bind --pairs tuxpaint-t2i:train --modality image --out my-binding
    xmodal train rerank --pairs tuxpaint-t2i:train --out my-reranker
"""
