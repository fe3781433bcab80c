#!/usr/bin/env bash
# Screenshots from a real terminal (xterm with sixel, under Xvfb): what Pilot's
# SVG snapshots cannot show, the map's atlas mode with sharp thumbnails.
# Run from the repository root: `make screenshots-sixel`. Needs ../shared/tools/xterm-shot
# (which installs xterm, Xvfb and xdotool with apt-get on first use).
set -euo pipefail
shot=../shared/tools/xterm-shot
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/planche demo --project "$work/demo.duckdb" --folder "$work/demo-images" --embedder pixels > /dev/null
for size in 160x48 80x24; do
  cp "$work/demo.duckdb" "$work/shot.duckdb"   # opening the map stores one: a fresh copy each time
  name=map-atlas$([ "$size" = 160x48 ] || echo "-$size")
  "$shot" screenshots/$name.png --size "$size" --wait 8 --keys "M sleep:6 a sleep:5" \
    --env COLORTERM=truecolor -- .venv/bin/planche open "$work/shot.duckdb"
done
cp "$work/demo.duckdb" "$work/shot.duckdb"
"$shot" screenshots/map-atlas-zoomed.png --wait 8 --keys "M sleep:6 a sleep:4 plus plus sleep:4" \
  --env COLORTERM=truecolor -- .venv/bin/planche open "$work/shot.duckdb"
