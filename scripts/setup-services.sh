#!/usr/bin/env bash
# Installs the real servers the scale-out tests start (idempotent, quiet):
#   Debian: Ceph monitor, OSD and radosgw (S3) and the ceph CLI; iproute2/util-linux for
#   scripts/netns-loopback.sh;  pip: xmodal's ray, milvus and s3 extras into .venv.
# Run after scripts/setup-venv.sh (which makes .venv). Nothing here starts a server.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
APT_PACKAGES=(ceph-mon ceph-osd radosgw ceph-common iproute2 util-linux)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  # the packages' maintainer scripts only register systemd units; no daemon starts here
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -x .venv/bin/python ] || { echo "no .venv: run scripts/setup-venv.sh first" >&2; exit 1; }
# the pins live in pyproject.toml; skip pip's ~30 s re-resolve when the extras already import
if ! .venv/bin/python -c "import ray.data, pymilvus, milvus, obstore" 2>/dev/null; then
  .venv/bin/pip install -q -e ".[ray,milvus,s3]"
fi
