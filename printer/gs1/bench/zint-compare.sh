#!/usr/bin/env bash
# zint-compare.sh BIN [N]: encode the same N (default 100000) generated GS1
# pharma payloads with `BIN encode --batch --format dumphex` and with
# `zint -b 71 --gs1 --square --batch --dump`, print payloads/s of each, the
# ratio, the symbol sizes each chose, and every payload where our symbol is
# larger than zint's square choice. Needs zint and Go.
set -euo pipefail
BIN=${1:?usage: zint-compare.sh path/to/serialine [N]}
N=${2:-100000}
case "$BIN" in /*) ;; *) BIN="$PWD/$BIN" ;; esac
cd "$(dirname "$0")/../../.."
command -v zint >/dev/null || { echo "zint not installed (make tools)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go run ./printer/gs1/bench/gen "$N" > "$tmp/payloads.txt"
# zint reads "(AI)" with --gs1parens; the generator never puts parentheses in data.

now() { date +%s.%N; }

t0=$(now)
"$BIN" encode --batch --format dumphex < "$tmp/payloads.txt" > "$tmp/ours.txt"
t1=$(now)
zint -b 71 --gs1 --gs1parens --square --batch --dump -i "$tmp/payloads.txt" > "$tmp/zint.txt" 2> "$tmp/zint.err" || true
t2=$(now)
# also the 0/1 dump the CLI documents (blank line between symbols)
t3=$(now)
"$BIN" encode --batch --format dump < "$tmp/payloads.txt" > /dev/null
t4=$(now)

if [ -s "$tmp/zint.err" ]; then
  echo "zint reported problems:"; head -5 "$tmp/zint.err"
fi

awk -v n="$N" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v t3="$t3" -v t4="$t4" 'BEGIN {
  o = t1 - t0; z = t2 - t1; d = t4 - t3
  printf "payloads:                       %d\n", n
  printf "serialine encode --format dumphex: %8.0f payloads/s (%.2f s)\n", n/o, o
  printf "serialine encode --format dump:    %8.0f payloads/s (%.2f s)\n", n/d, d
  printf "zint -b 71 --gs1 --square --dump:  %8.0f payloads/s (%.2f s)\n", n/z, z
  printf "ratio serialine/zint (dumphex):    %.2fx\n", z/o
}'

# Symbol sizes: each square symbol starts with its alternating top row
# ("AA AA 8" for 18x18 …), unique per size; map it to the side and skip.
sides() {
  awk 'BEGIN {
    split("10 12 14 16 18 20 22 24 26 32 36 40 44 48 52 64 72 80 88 96 104 120 132 144", S, " ")
    for (k in S) { w = S[k]; row = ""
      for (c = 0; c < w; c += 8) { n = w - c; if (n > 8) n = 8; v = 0
        for (b = 0; b < 8; b++) { v = v * 2; if (b < n && (c + b) % 2 == 0) v += 1 }
        h = sprintf("%02X", v); if (n <= 4) h = substr(h, 1, 1)
        row = row (c ? " " : "") h }
      top[row] = w }
    skip = 0 }
  { if (skip > 0) { skip--; next }
    if (!($0 in top)) { print "?"; next }
    print top[$0]; skip = top[$0] - 1 }' "$1"
}
sides "$tmp/ours.txt" > "$tmp/ours.sides"
sides "$tmp/zint.txt" > "$tmp/zint.sides"

echo "symbol sizes (side: serialine count / zint count):"
join -a1 -a2 -e0 -o 0,1.2,2.2 \
  <(sort -n "$tmp/ours.sides" | uniq -c | awk '{print $2, $1}' | sort -k1,1) \
  <(sort -n "$tmp/zint.sides" | uniq -c | awk '{print $2, $1}' | sort -k1,1) |
  sort -n | awk '{printf "  %3dx%-3d  %7d / %7d\n", $1, $1, $2, $3}'

paste -d' ' "$tmp/ours.sides" "$tmp/zint.sides" | nl -ba > "$tmp/pairs"
larger=$(awk '$2 > $3' "$tmp/pairs" | wc -l)
smaller=$(awk '$2 < $3' "$tmp/pairs" | wc -l)
echo "symbols larger than zint's: $larger; smaller: $smaller (of $N)"
awk '$2 > $3 {print $1, $2, $3}' "$tmp/pairs" | while read -r line ours z; do
  printf '  larger: line %d: ours %dx%d, zint %dx%d: %s\n' "$line" "$ours" "$ours" "$z" "$z" "$(sed -n "${line}p" "$tmp/payloads.txt")"
done
