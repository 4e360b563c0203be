#!/usr/bin/env bash
# Lighthouse's performance score, mobile profile (its default: a
# mid-range phone, simulated slow 4G and 4x CPU slowdown), on the front
# page and the scores page of the demo site served by a local composer:
#   make lighthouse            (or ./scripts/lighthouse.sh)
# Needs Node.js with npm and /usr/bin/chromium; Lighthouse itself is
# installed with npm ci, pinned by scripts/lighthouse/package-lock.json.
# Each page is warmed first (Lighthouse measures a reader's page, not the
# composer's first fill). Reports go to artifacts/lighthouse/. The scores
# vary from run to run by a few points on a shared machine: this is a
# measurement, not a test. PAGES overrides the paths.
#
# Each page is measured twice: with Lighthouse's default 4x CPU slowdown,
# which assumes a fast desktop host, and with the slowdown Lighthouse's
# throttling guide calibrates from the host's own benchmarkIndex (its
# report's environment; the lighthouse-cpu-throttling-calculator's
# formula: 150 -> 1x, 800 -> 2x, 1300 -> 3x, then +1x per 233), so that
# the score is of the same phone on a slower or busier host.
# CALIBRATE=0 skips the second run.
set -euo pipefail
cd "$(dirname "$0")/.."

chrome=${CHROME_PATH:-/usr/bin/chromium}
command -v npx >/dev/null || { echo "lighthouse: npm is missing (apt-get install npm)"; exit 2; }
[ -x "$chrome" ] || { echo "lighthouse: $chrome is missing (apt-get install chromium)"; exit 2; }
pages=${PAGES:-"/ /sport/football/scores"}

npm ci --prefix scripts/lighthouse --no-audit --no-fund --ignore-scripts --loglevel=error
go build -o bin/composer ./cmd/composer

# A free loopback port, then the composer on it.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
bin/composer -addr "127.0.0.1:$port" -drain 0 -log-level warn &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

mkdir -p artifacts/lighthouse
# run NAME [lighthouse flags...] measures $url (page $p) once; reports in
# artifacts/lighthouse/NAME.*.
run() {
  local out=$1; shift
  CHROME_PATH="$chrome" scripts/lighthouse/node_modules/.bin/lighthouse "$url" \
    --only-categories=performance --form-factor=mobile \
    --chrome-flags="--headless --no-sandbox --disable-gpu" \
    --output=json --output=html --output-path="artifacts/lighthouse/$out" --quiet "$@"
  node -e '
    const r = require(process.argv[1]);
    const a = r.audits, m = k => a[k] ? a[k].displayValue : "?";
    console.log(`${process.argv[2]}: performance ${Math.round(r.categories.performance.score * 100)}` +
      ` (CPU ${r.configSettings.throttling.cpuSlowdownMultiplier.toFixed(2)}x, benchmarkIndex ${Math.round(r.environment.benchmarkIndex)};` +
      ` FCP ${m("first-contentful-paint")}, LCP ${m("largest-contentful-paint")}, TBT ${m("total-blocking-time")},` +
      ` CLS ${m("cumulative-layout-shift")}, SI ${m("speed-index")}; ${m("total-byte-weight")}; DOM ${m("dom-size")})`);
  ' "$PWD/artifacts/lighthouse/$out.report.json" "$p"
}
for p in $pages; do
  url="http://127.0.0.1:$port$p"
  curl -fsS -o /dev/null "$url"
  name=$(echo "$p" | tr '/' '_' | sed 's/^_//; s/^$/front/')
  run "$name"
  if [ "${CALIBRATE:-1}" != "0" ]; then
    m=$(node -e '
      const b = require(process.argv[1]).environment.benchmarkIndex;
      const m = b >= 1300 ? 3 + (b - 1300) / 233 : b >= 800 ? 2 + (b - 800) / 500 : 1 + Math.max(b - 150, 0) / 650;
      console.log(m.toFixed(2));
    ' "$PWD/artifacts/lighthouse/$name.report.json")
    run "$name.calibrated" --throttling.cpuSlowdownMultiplier="$m"
  fi
done
