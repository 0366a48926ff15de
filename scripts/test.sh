#!/usr/bin/env bash
# Install everything the tests need into .venv and run the whole suite (offline, CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh dev
# System pieces the tests use: cairo (SVG decoding: cairosvg loads it) and espeak-ng (spoken test audio)
need=()
ldconfig -p 2>/dev/null | grep -q libcairo.so.2 || need+=(libcairo2)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
if [ ${#need[@]} -gt 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null) \
    || echo "warning: could not install ${need[*]}; the tests that need them will fail or be skipped" >&2
fi
# the browser tests (-m browser) drive Debian's Chromium through Playwright; Playwright's own
# browser download cannot work offline
if ! command -v chromium >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: chromium could not be installed; the browser tests will be skipped (and fail under .ci/run)" >&2
fi
# the scale-out tests' real servers (Ceph radosgw, Milvus, Ray: tests/services/); the whole suite
# runs in a network namespace with only loopback, since Milvus and Ray listen on every interface
bash scripts/setup-services.sh
if scripts/netns-loopback.sh true 2>/dev/null; then
  exec scripts/netns-loopback.sh .venv/bin/python -m pytest -q "$@"
fi
echo "warning: no network namespace can be made here (unshare -n); the Milvus and Ray tests will skip" >&2
exec .venv/bin/python -m pytest -q "$@"
