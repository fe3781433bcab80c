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

# The grid at its largest thumbnails (xterm: sixel tiles, the row cut by the bottom
# edge in half-cells), and
# the preview with its sharp (sixel) picture, one step on.
cp "$work/demo.duckdb" "$work/shot.duckdb"
"$shot" screenshots/grid-zoomed.png --wait 8 --keys "plus plus plus sleep:4" \
  --env COLORTERM=truecolor -- .venv/bin/planche open "$work/shot.duckdb"
"$shot" screenshots/preview.png --wait 8 --keys "Return sleep:4 Right sleep:4" \
  --env COLORTERM=truecolor -- .venv/bin/planche open "$work/shot.duckdb"

# A filtered, grouped grid: a Rating set on a folder, then f with a filter and a grouping.
cp "$work/demo.duckdb" "$work/shot.duckdb"
.venv/bin/planche properties --add Rating:number --project "$work/shot.duckdb" > /dev/null
.venv/bin/planche set Rating 4 --where "folder:animals or folder:space" --project "$work/shot.duckdb" > /dev/null
"$shot" screenshots/filtered-grouped.png --wait 8 \
  --keys "f sleep:1 type:Rating>=3 Tab minus type:size Tab type:folder Return sleep:4" \
  --env COLORTERM=truecolor -- .venv/bin/planche open "$work/shot.duckdb"

# The duplicates review: the demo's photos with copies made by resizing, re-encoding
# and copying, imported, then D (review), two groups on.
mkdir -p "$work/dups/copies"
.venv/bin/python - "$work/demo-images" "$work/dups" <<'PY'
import shutil, sys
from pathlib import Path
from PIL import Image
source, out = Path(sys.argv[1]), Path(sys.argv[2])
readable = []
for f in sorted(source.rglob("*.jpg")):
    try:
        Image.open(f).convert("RGB")
        readable.append(f)
    except Exception:  # the demo holds broken and truncated files on purpose
        pass
for i, f in enumerate(readable[:12]):
    shutil.copy2(f, out / f.name)
    picture = Image.open(f).convert("RGB")
    if i % 3 == 0:
        picture.resize((picture.width // 2, picture.height // 2)).save(
            out / "copies" / f"{f.stem}_small.jpg", quality=80)
    elif i % 3 == 1:
        picture.save(out / "copies" / f"{f.stem}_q60.jpg", quality=60)
        shutil.copy2(f, out / "copies" / f"copy of {f.name}")
PY
.venv/bin/planche import "$work/dups" --project "$work/dups.duckdb" --embedder pixels > /dev/null
for size in 160x48 80x24; do
  name=dedupe-review$([ "$size" = 160x48 ] || echo "-$size")
  "$shot" screenshots/$name.png --size "$size" --wait 8 --keys "D sleep:6 n n sleep:4" \
    --env COLORTERM=truecolor -- .venv/bin/planche open "$work/dups.duckdb"
done
