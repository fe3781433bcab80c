#!/usr/bin/env bash
# Screenshots from a real kitty terminal (kitty graphics with Unicode placeholders,
# under Xvfb with Mesa's software OpenGL): the grid's sharp thumbnails, which
# Pilot's snapshots and xterm cannot show. Run from the repository root, as root:
#
#   bash screenshots/kitty.sh                 the screenshots/*kitty*.png set
#   bash screenshots/kitty.sh shot OUT.png [--size COLSxROWS] [--wait S] [--keys "K …"]
#        [--tmux] -- COMMAND [ARGS...]        one screenshot of COMMAND in kitty
#
# Keys are xdotool key names sent 0.5 s apart; "sleep:N" waits N seconds.
# --tmux runs COMMAND in tmux (allow-passthrough on) inside kitty.
#
# Unicode placeholders need kitty 0.28 or later; Debian 12 ships 0.26.5, which
# prints them as text. Where the system's kitty is older, this builds a Debian 13
# (trixie, kitty 0.41) root with debootstrap in $KITTY_ROOT (default
# /tmp/planche-kitty-root, about 500 MB, once) and runs kitty there in a private
# mount namespace, with /tmp, the repository and the venv's Python bound in at the
# same paths. KITTY_SYSTEM=1 uses the system's kitty whatever its version. Installs what it needs with apt-get on first use (Debian: xvfb xdotool
# x11-apps netpbm debootstrap kitty).
set -euo pipefail
repo=$(pwd)
root=${KITTY_ROOT:-/tmp/planche-kitty-root}

need=()
for tool in Xvfb:xvfb xdotool:xdotool xwd:x11-apps xwdtopnm:netpbm pnmtopng:netpbm \
  debootstrap:debootstrap unshare:util-linux; do
  command -v "${tool%%:*}" > /dev/null 2>&1 || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "kitty.sh: installing ${need[*]}" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") \
    > /dev/null 2>&1 || { echo "kitty.sh: could not install ${need[*]}" >&2; exit 2; }
fi

# ---------------------------------------------------------------- which kitty
kitty_new_enough() { # VERSION line on stdin: 0.28 or later
  awk '{ split($2, v, "."); exit !(v[1] > 0 || v[2] >= 28) }'
}
inside=() # the prefix that runs a command where kitty 0.28+ is
if [ -n "${KITTY_SYSTEM:-}" ] || { command -v kitty > /dev/null 2>&1 && kitty --version | kitty_new_enough; }; then
  :
else
  if [ ! -x "$root/usr/bin/kitty" ]; then
    echo "kitty.sh: building a Debian trixie root for kitty 0.41 in $root (once)" >&2
    debootstrap --variant=minbase \
      --include=kitty,libgl1-mesa-dri,libegl1,libgl1,fonts-dejavu-core,tmux,ncurses-term \
      trixie "$root" http://deb.debian.org/debian > /tmp/kitty-debootstrap.log 2>&1 \
      || { echo "kitty.sh: debootstrap failed, see /tmp/kitty-debootstrap.log" >&2; exit 2; }
  fi
  python_home=$(dirname "$(dirname "$(realpath .venv/bin/python)")")
  # shellcheck disable=SC2016
  inside=(unshare --mount --propagation private bash -c '
    set -e; r=$1; shift
    mount -t proc proc "$r/proc"
    mount --rbind /dev "$r/dev"
    for d in /tmp "$REPO" "$PYHOME"; do mkdir -p "$r$d"; mount --bind "$d" "$r$d"; done
    exec chroot "$r" "$@"' inside "$root")
  export REPO=$repo PYHOME=$python_home
fi
version=$("${inside[@]}" kitty --version)

# ---------------------------------------------------------------- the display
display=""
for n in $(seq 90 140); do [ -e "/tmp/.X$n-lock" ] || { display=":$n"; break; }; done
[ -n "$display" ] || { echo "kitty.sh: no free X display" >&2; exit 2; }
mkdir -p /tmp/.X11-unix
Xvfb "$display" -screen 0 1920x1200x24 +extension GLX -nolisten tcp > /dev/null 2>&1 &
xvfb=$!
work=$(mktemp -d /tmp/kitty-shot.XXXXXX)
chmod 755 "$work"
term=""
cleanup() {
  [ -n "$term" ] && kill "$term" 2> /dev/null || true
  kill "$xvfb" 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X${display#:}" ] && break; sleep 0.1; done
echo "kitty.sh: $version on Xvfb $display" >&2

# ---------------------------------------------------------------- one screenshot
shot() { # OUT.png [--size C x R] [--wait S] [--keys "…"] [--tmux] -- COMMAND…
  local out=$1 size=160x48 wait=6 keys="" tmux=0
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --size) size=$2; shift 2 ;;
      --wait) wait=$2; shift 2 ;;
      --keys) keys=$2; shift 2 ;;
      --tmux) tmux=1; shift ;;
      --) shift; break ;;
      *) echo "kitty.sh: unknown option $1" >&2; return 2 ;;
    esac
  done
  local cmd
  cmd="cd $(printf '%q' "$repo") && exec $(printf '%q ' "$@")"
  if [ "$tmux" = 1 ]; then
    printf 'set -g allow-passthrough on\nset -g status off\n' > "$work/tmux.conf"
    cmd="exec tmux -L kitty-shot-$$ -f $work/tmux.conf new-session $(printf '%q' "$cmd")"
  fi
  DISPLAY=$display LIBGL_ALWAYS_SOFTWARE=1 HOME=$work "${inside[@]}" \
    env DISPLAY="$display" LIBGL_ALWAYS_SOFTWARE=1 HOME="$work" kitty --config NONE \
    -o font_family='DejaVu Sans Mono' -o font_size=9 -o remember_window_size=no \
    -o initial_window_width="${size%x*}c" -o initial_window_height="${size#*x}c" \
    -o window_padding_width=0 -o placement_strategy=top-left \
    bash -c "$cmd" > "$work/kitty.log" 2>&1 &
  term=$!
  sleep "$wait"
  kill -0 "$term" 2> /dev/null || { echo "kitty.sh: the program ended early" >&2; cat "$work/kitty.log" >&2; return 1; }
  local wid
  wid=$(DISPLAY=$display xdotool search --class kitty 2> /dev/null | tail -1)
  [ -n "$wid" ] && DISPLAY=$display xdotool windowfocus "$wid" 2> /dev/null || true
  for k in $keys; do
    case "$k" in
      sleep:*) sleep "${k#sleep:}" ;;
      *) DISPLAY=$display xdotool key "$k"; sleep 0.5 ;;
    esac
  done
  [ -n "$keys" ] && sleep "$wait"
  kill -0 "$term" 2> /dev/null || { echo "kitty.sh: the program ended early" >&2; cat "$work/kitty.log" >&2; return 1; }
  if [ -n "$wid" ]; then DISPLAY=$display xwd -silent -id "$wid" > "$work/s.xwd"
  else DISPLAY=$display xwd -silent -root > "$work/s.xwd"; fi
  xwdtopnm "$work/s.xwd" 2> /dev/null | pnmtopng > "$out" 2> /dev/null
  [ "$tmux" = 1 ] && { "${inside[@]}" tmux -L "kitty-shot-$$" kill-server 2> /dev/null || true; }
  kill "$term" 2> /dev/null || true
  wait "$term" 2> /dev/null || true
  term=""
  echo "$out"
}

if [ "${1:-}" = shot ]; then
  shift
  shot "$@"
  exit
fi

# ---------------------------------------------------------------- the set
.venv/bin/planche demo --project "$work/demo.duckdb" --folder "$work/demo-images" \
  --embedder pixels > /dev/null
open=(.venv/bin/planche open "$work/demo.duckdb")
shot screenshots/grid-kitty.png -- "${open[@]}" --images tgp
shot screenshots/grid-kitty-auto.png -- "${open[@]}"
shot screenshots/grid-kitty-zoomed.png --keys "plus plus plus sleep:3" -- "${open[@]}" --images tgp
shot screenshots/grid-kitty-scrolled.png --keys "Next sleep:3" -- "${open[@]}" --images tgp
# In and out again, down and up again: every tile back, none twice.
shot screenshots/grid-kitty-back.png --keys "plus plus plus sleep:2 Next Next sleep:2 \
  minus minus sleep:2 Prior Prior Prior sleep:3" -- "${open[@]}" --images tgp
shot screenshots/grid-kitty-help.png --keys "question sleep:2" -- "${open[@]}" --images tgp
shot screenshots/preview-kitty.png --keys "Return sleep:3" -- "${open[@]}" --images tgp
shot screenshots/dedupe-review-kitty.png --keys "D sleep:5" -- "${open[@]}" --images tgp
shot screenshots/grid-kitty-tmux.png --tmux -- "${open[@]}" --images tgp
shot screenshots/grid-kitty-tmux-auto.png --tmux -- "${open[@]}"
shot screenshots/preview-kitty-tmux.png --tmux --keys "Return sleep:3" -- "${open[@]}" --images tgp
