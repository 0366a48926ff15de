#!/usr/bin/env bash
# The main job on the embedded default: install, build a sample of real media from registry
# packages (Tux Paint stamps and sounds, spoken captions, Asterisk prompts, generated clips, a PDF),
# index it into LanceDB with the offline default profile, and run cross-modal searches.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh default,llm,data,serve
# the sample holds SVG stamps: cairosvg needs the system cairo library (the media come from apt too)
if ! ldconfig -p 2>/dev/null | grep -q libcairo.so.2; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libcairo2 >/dev/null
fi
X=.venv/bin/xmodal
CACHE="${XMODAL_CACHE:-$HOME/.cache/xmodal}"
SAMPLE="$CACHE/demo"
INDEX="$CACHE/demo-index"
$X data demo "$SAMPLE"
# the demo index is derived data: if an older xmodal (other encoders or binding) built it, rebuild it
if [ -d "$INDEX" ] && ! $X info --index "$INDEX" >/dev/null 2>&1; then rm -rf "$INDEX"; fi
$X index "$SAMPLE" --index "$INDEX"
$X info --index "$INDEX"
show() { echo; echo "== $1"; shift; $X search "$@" --index "$INDEX"; }
show 'text → everything: "a frog"' "a frog" -k 6
show 'text → sounds: "a pig"' "a pig" -m audio -k 3
show 'text → video: "a grasshopper"' "a grasshopper" -m video -k 3
show 'text → a page of the PDF: "a blackbird"' "a blackbird" -m document -k 1
show 'spoken caption → pictures: spoken-frog.ogg' --file "$SAMPLE/spoken-frog.ogg" -m image -k 3
show 'image → text notes and sounds: pig.png' --file "$SAMPLE/pig.png" -m text -m audio -k 4
show 'mixed: "in the snow" + fox.png' "in the snow" --file "$SAMPLE/fox.png" -k 5
echo; echo '== ask (retrieve → rerank → packaged SmolLM2 refiner, cited answer): "which animal is green and jumps?"'
$X ask "which animal is green and jumps?" --index "$INDEX" -k 5 --rerank attention --time-budget 30
echo; echo "== serve the demo index: a search page at http://127.0.0.1:8000/ and the REST API (docs at /docs)"
echo "$X serve --index \"$INDEX\""
