#!/usr/bin/env bash
# Runs a command in a network namespace of its own whose only interface is loopback (lo up),
# so servers that listen on every interface (Milvus, Ray) and Ray's advertised node address stay
# on 127.0.0.1 and nothing can reach another address. Root uses `unshare -n`; others map
# themselves to root in a user namespace first (`unshare -rn`).
#   scripts/netns-loopback.sh .venv/bin/python -m pytest -m services
set -euo pipefail
[ "$#" -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
if [ "$(id -u)" = 0 ]; then flags=-n; else flags=-rn; fi
exec unshare "$flags" -- sh -c 'ip link set lo up && exec "$@"' netns-loopback "$@"
