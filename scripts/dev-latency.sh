#!/usr/bin/env bash
# Measures the fragment author's loop in dev mode: seconds from saving a
# file to the change being served through the reloading proxy.
#   ./scripts/dev-latency.sh            # 3 rounds
#   ROUNDS=5 ./scripts/dev-latency.sh
# It works in a temporary copy of the module (dev mode regenerates and
# rebuilds the tree it watches), starts `broadsheet dev` there on a free
# loopback port, then, each round:
#   .go     edits the scoreboard's title in fragments/scoreboard.go,
#   .templ  edits the footer's link text in fragments/footer.templ,
#   yaml    edits the city page's title in site.yaml,
# and polls the page that shows it (every 20 ms, at most 60 s) until the new
# text is served. One Python process edits and polls, so that starting
# processes is not measured. Last it scaffolds fragment "traffic" and polls
# the explorer until it lists it. The dev log's "ready in" lines give each
# cycle's phases. It stops the dev process it started, by PID, and removes
# the copy.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
rounds=${ROUNDS:-3}
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
base="http://127.0.0.1:$port"

ready() { curl -fsS "$base/_dev/status" 2>/dev/null | grep -q '"ok":true'; }
for _ in $(seq 1200); do ready && break; sleep 0.1; done
ready || { echo "dev mode did not become ready:"; cat "$work/dev.log"; exit 1; }
curl -fsS "$base/" >/dev/null # the first page, as a browser would have it open

cat >"$work/measure.py" <<'EOF'
# measure.py BASE LABEL FILE OLD NEW PAGE SHOWN: replaces OLD by NEW in FILE
# (written in place, as most editors save) and prints the seconds until
# PAGE serves SHOWN.
import sys, time, urllib.request
base, label, path, old, new, page, shown = sys.argv[1:]
s = open(path).read()
assert old in s, (path, old)
t0 = time.time()
with open(path, "w") as f:
    f.write(s.replace(old, new, 1))
while True:
    try:
        if shown in urllib.request.urlopen(base + page, timeout=10).read().decode("utf-8", "replace"):
            break
    except Exception:
        pass
    if time.time() - t0 > 60:
        sys.exit("%s: %r never appeared" % (label, shown))
    time.sleep(0.02)
print("%-6s save to served: %.2fs" % (label, time.time() - t0))
EOF
measure() { python3 "$work/measure.py" "$base" "$@" || { grep '^dev:' "$work/dev.log"; exit 1; }; sleep 1; }

go_old="All divisions"; templ_old="Fragment explorer"; yaml_old="Weather forecast"
for r in $(seq "$rounds"); do
  measure .go fragments/scoreboard.go "\"$go_old\"" "\"All divisions $r\"" "/sport/football/scores?size=5" "All divisions $r"
  go_old="All divisions $r"
  measure .templ fragments/footer.templ ">$templ_old<" ">Fragment explorer $r<" "/" "Fragment explorer $r"
  templ_old="Fragment explorer $r"
  measure yaml site.yaml "\"$yaml_old\"" "\"Weather forecast $r\"" "/weather/london" "Weather forecast $r"
  yaml_old="Weather forecast $r"
done

t0=$(date +%s.%N)
"$work/bin/broadsheet" new fragment traffic -param city=london -no-test >/dev/null
until curl -fsS "$base/_/fragments" 2>/dev/null | grep -q 'id="f-traffic"'; do
  sleep 0.02
  if [ "$(echo "$(date +%s.%N) - $t0 > 120" | bc)" = 1 ]; then echo "traffic never appeared:"; grep '^dev:' "$work/dev.log"; exit 1; fi
done
printf '%-6s scaffold to listed in the explorer: %.2fs\n' new "$(echo "$(date +%s.%N) - $t0" | bc)"
echo "cycles (dev log):"
grep '^dev: ready' "$work/dev.log" | sed 's/^/  /'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
