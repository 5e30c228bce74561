#!/usr/bin/env bash
# Measures the emulator's --bench ingest rate: 4 parallel `curl -T` uploads of a
# 256 MiB file from /tmp (1 GiB in all), unsigned, against UploadPart (default) or
# PutObject. Prints GiB/s for each run and the median of RUNS runs.
#
#   emulator/bench-ingest.sh [part|put]      env: RUNS=3 STREAMS=4 SIZE_MIB=256 OSS_EMULATOR_BIN=...
#
# NORMAL=1 measures the normal mode instead (bodies written to a temp data dir with
# MD5 + CRC-64 in the same pass; requests V1-signed with openssl, key test-ak:test-sk).
set -euo pipefail

MODE="${1:-part}"
RUNS="${RUNS:-3}"
STREAMS="${STREAMS:-4}"
SIZE_MIB="${SIZE_MIB:-256}"
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="${OSS_EMULATOR_BIN:-$HERE/../target/release/oss-emulator}"
[ -x "$BIN" ] || { echo "no emulator binary at $BIN (run: npm run build:emulator)" >&2; exit 1; }

WORK="$(mktemp -d /tmp/oss-emu-bench.XXXXXX)"
OUT="$WORK/emulator.out"
cleanup() {
  [ -n "${EMU_PID:-}" ] && kill "$EMU_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

SRC="$WORK/src.bin"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$SRC"
cat "$SRC" > /dev/null   # warm the page cache

if [ "${NORMAL:-0}" = 1 ]; then
  "$BIN" --listen 127.0.0.1:0 --data-dir "$WORK/data" > "$OUT" 2>&1 &
else
  "$BIN" --bench --listen 127.0.0.1:0 > "$OUT" 2>&1 &
fi
EMU_PID=$!
for _ in $(seq 50); do grep -q listening "$OUT" 2>/dev/null && break; sleep 0.1; done
BASE="$(sed -n 's/^oss-emulator listening on \(http:[^ ]*\)$/\1/p' "$OUT")"
[ -n "$BASE" ] || { echo "emulator did not start: $(cat "$OUT")" >&2; exit 1; }
B="$BASE/examplebucket"

# V1 signature headers for METHOD RESOURCE (only used with NORMAL=1).
sign() {
  if [ "${NORMAL:-0}" != 1 ]; then return; fi
  local date sig
  date="$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S GMT')"
  sig="$(printf '%s\n\n%s\n%s\nx-oss-date:%s\n%s' "$1" "${3:-}" "$date" "$date" "$2" | openssl dgst -sha1 -hmac test-sk -binary | base64)"
  printf '%s\n' -H "x-oss-date: $date" -H "Authorization: OSS test-ak:$sig"
}

urls=()
resources=()
for i in $(seq "$STREAMS"); do
  if [ "$MODE" = "put" ]; then
    urls+=("$B/bench-object-$i")
    resources+=("/examplebucket/bench-object-$i")
  else
    mapfile -t H < <(sign POST "/examplebucket/bench-part-$i?uploads" application/octet-stream)
    UPLOAD_ID="$(curl -sf -X POST -H 'Content-Type: application/octet-stream' "${H[@]}" "$B/bench-part-$i?uploads" | sed -n 's/.*<UploadId>\(.*\)<\/UploadId>.*/\1/p')"
    [ -n "$UPLOAD_ID" ] || { echo "InitiateMultipartUpload failed" >&2; exit 1; }
    urls+=("$B/bench-part-$i?partNumber=1&uploadId=$UPLOAD_ID")
    resources+=("/examplebucket/bench-part-$i?partNumber=1&uploadId=$UPLOAD_ID")
  fi
done

rates=()
for run in $(seq "$RUNS"); do
  start=$(date +%s.%N)
  pids=()
  for i in $(seq "$STREAMS"); do
    mapfile -t H < <(sign PUT "${resources[$((i - 1))]}")
    curl -sf -o /dev/null -T "$SRC" "${H[@]}" "${urls[$((i - 1))]}" & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  end=$(date +%s.%N)
  rate=$(awk -v s="$start" -v e="$end" -v n="$STREAMS" -v m="$SIZE_MIB" 'BEGIN { printf "%.2f", (n * m / 1024) / (e - s) }')
  secs=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }')
  echo "run $run: $((STREAMS * SIZE_MIB)) MiB in ${secs} s = ${rate} GiB/s"
  rates+=("$rate")
done
median=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
label="bench"; [ "${NORMAL:-0}" = 1 ] && label="normal"
echo "median ($label mode, $MODE, $STREAMS x ${SIZE_MIB} MiB): ${median} GiB/s"
