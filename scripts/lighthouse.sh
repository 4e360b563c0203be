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
for p in $pages; do
  url="http://127.0.0.1:$port$p"
  curl -fsS -o /dev/null "$url"
  name=$(echo "$p" | tr '/' '_' | sed 's/^_//; s/^$/front/')
  CHROME_PATH="$chrome" scripts/lighthouse/node_modules/.bin/lighthouse "$url" \
    --only-categories=performance --form-factor=mobile \
    --chrome-flags="--headless --no-sandbox --disable-gpu" \
    --output=json --output=html --output-path="artifacts/lighthouse/$name" --quiet
  node -e '
    const r = require(process.argv[1]);
    const a = r.audits, m = k => a[k] ? a[k].displayValue : "?";
    console.log(`${process.argv[2]}: performance ${Math.round(r.categories.performance.score * 100)}` +
      ` (FCP ${m("first-contentful-paint")}, LCP ${m("largest-contentful-paint")}, TBT ${m("total-blocking-time")},` +
      ` CLS ${m("cumulative-layout-shift")}, SI ${m("speed-index")}; ${m("total-byte-weight")}; DOM ${m("dom-size")})`);
  ' "$PWD/artifacts/lighthouse/$name.report.json" "$p"
done
