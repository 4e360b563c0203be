#!/usr/bin/env bash
# Measures the fragment author's loop in dev mode: seconds from a new
# fragment's files landing in fragments/ to the fragment being listed in the
# explorer, through the reloading proxy.
#   ./scripts/dev-latency.sh
# It works in a temporary copy of the module (dev mode regenerates and
# rebuilds the tree it watches), starts `broadsheet dev` there on a free
# loopback port, scaffolds fragment "traffic" with -no-test, polls
# /_/fragments, then stops the dev process it started.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
dev_pid=""
cleanup() {
  if [ -n "$dev_pid" ]; then kill "$dev_pid" 2>/dev/null || true; wait "$dev_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A copy of the module without version control or build output.
tar -C "$root" --exclude=.git --exclude='*.test' --exclude=./bin --exclude=./artifacts --exclude=./tmp -cf - . | tar -C "$work" -xf -
cd "$work"
go build -o "$work/bin/broadsheet" ./cmd/broadsheet
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$work/bin/broadsheet" dev -addr "127.0.0.1:$port" >"$work/dev.log" 2>&1 &
dev_pid=$!

now() { date +%s.%N; }
ready() { curl -fsS "http://127.0.0.1:$port/_dev/status" 2>/dev/null | grep -q '"ok":true'; }
for _ in $(seq 600); do ready && break; sleep 0.1; done
ready || { echo "dev mode did not become ready:"; cat "$work/dev.log"; exit 1; }

t0=$(now)
"$work/bin/broadsheet" new fragment traffic -param city=london -no-test >/dev/null
t1=$(now)
until curl -fsS "http://127.0.0.1:$port/_/fragments" 2>/dev/null | grep -q 'id="f-traffic"'; do
  sleep 0.05
  if [ "$(echo "$(now) - $t0 > 120" | bc)" = 1 ]; then echo "traffic never appeared:"; cat "$work/dev.log"; exit 1; fi
done
t2=$(now)
printf 'scaffold (files written, templ generated): %.2fs\n' "$(echo "$t1 - $t0" | bc)"
printf 'save to visible in the explorer:            %.2fs (from the scaffold start)\n' "$(echo "$t2 - $t0" | bc)"

# An edit of the markup: from save to the rebuilt composer serving.
serving() { curl -fsS "http://127.0.0.1:$port/_dev/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["serving"])'; }
before=$(serving)
t0=$(now)
sed -i 's|>Traffic</h3>|>Traffic now</h3>|' fragments/traffic.templ
until [ "$(serving)" -gt "$before" ] && ready; do sleep 0.05; done
t2=$(now)
printf 'markup edit to rebuilt and serving:         %.2fs\n' "$(echo "$t2 - $t0" | bc)"
if [ -n "${VERBOSE:-}" ]; then grep '^dev:' "$work/dev.log"; fi
