#!/usr/bin/env bash
# Does `pip install "xmodal[default]"` (plus the one package that cannot be declared, aisfx, with
# --no-deps) give a working default? Builds the wheel, installs it with [default] into a fresh venv
# in a temporary folder (no setup scripts, an empty xmodal cache), indexes generated text, images, sounds and a PDF, and checks
# text→image, text→audio, image→text, audio→text and text→document searches.
# Prints the install time and the venv size. Needs PyPI (and the CPU torch wheel pip finds here).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/xmodal-clean.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
unset PYTHONPATH VIRTUAL_ENV
export XMODAL_CACHE="$TMP/cache" PIP_DISABLE_PIP_VERSION_CHECK=1

# build from a copy of the checkout's files (tracked and new, not ignored): no stale build/ output
mkdir "$TMP/src"
git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$TMP/src"
"$PY" -m pip wheel -q --no-deps "$TMP/src" -w "$TMP/dist"
WHEEL="$(ls "$TMP"/dist/xmodal-*.whl)"
echo "wheel: $(basename "$WHEEL") ($(du -h "$WHEEL" | cut -f1))"
"$PY" -m venv "$TMP/venv"
start=$(date +%s)
"$TMP/venv/bin/pip" install -q "${WHEEL}[default]"
"$TMP/venv/bin/pip" check  # before aisfx, whose declared pins pip check would (rightly) report
"$TMP/venv/bin/pip" install -q --no-deps aisfx==0.1.2
echo "install: $(( $(date +%s) - start )) s; venv size: $(du -sh "$TMP/venv" | cut -f1)"
# the core must not need torch: importing xmodal and its CLI must not load it
"$TMP/venv/bin/python" -c 'import sys, xmodal, xmodal.cli; assert "torch" not in sys.modules, "import xmodal loaded torch"'
# run from the temporary folder so the checkout's src/ cannot shadow the installed package
(cd "$TMP" && "$TMP/venv/bin/python" "$OLDPWD/scripts/clean_install_check.py" "$TMP/work" "$TMP/venv/bin/xmodal")
