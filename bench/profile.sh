#!/usr/bin/env bash
# Profiles one upload of one contender against the emulator in --bench mode: `perf record` (cpu-clock, so
# it works in VMs without hardware counters) of the client process, then a flat profile by thread, library
# and symbol; optionally `strace -c -f` of a second run (syscall counts).
#
#   bench/profile.sh [--contender oss-turbo|ali-oss|opendal|raw] [--size-mib 1024] [--part-mib 8|default]
#                    [--parallel 8|default] [--buffer] [--tls] [--strace] [--out DIR]
#
# --tls: the emulator over HTTPS with the test certificate (h2 offered, as in the https-* bench cases),
# https://localhost:PORT path-style, the test CA given to each contender as bench/run.js does.
#
# For oss-turbo it builds the addon with symbols (a `profiling` cargo profile: release + line tables, not
# stripped) into $CARGO_TARGET_DIR (default target/) and loads it through NAPI_RS_NATIVE_LIBRARY_PATH, so
# the regular build is left alone (TURBO_NODE=path/to/addon.node profiles that build instead). Needs perf
# (Debian: linux-perf) and, for --strace, strace. OpenDAL is loaded from bench/.opendal (see run.js).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
CONTENDER=oss-turbo SIZE_MIB=1024 PART=8 PARALLEL=8 INPUT=file STRACE=0 TLS=0 OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --contender) CONTENDER="$2"; shift 2 ;;
    --size-mib) SIZE_MIB="$2"; shift 2 ;;
    --part-mib) PART="$2"; shift 2 ;;
    --parallel) PARALLEL="$2"; shift 2 ;;
    --buffer) INPUT=buffer; shift ;;
    --strace) STRACE=1; shift ;;
    --tls) TLS=1; shift ;;
    --out) OUT="$2"; shift 2 ;;
    *) sed -n '2,12p' "$0"; exit 2 ;;
  esac
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/oss-turbo-profile.XXXXXX")"
OUT="${OUT:-$WORK/out}"
mkdir -p "$OUT"
EMU_PID=""
cleanup() {
  [ -n "$EMU_PID" ] && kill "$EMU_PID" 2>/dev/null || true
  rm -f "$WORK/data.bin" "$WORK/oss-turbo.node"
}
trap cleanup EXIT

EMU="${OSS_EMULATOR_BIN:-$TARGET/release/oss-emulator}"
[ -x "$EMU" ] || (cd "$REPO" && npm run build:emulator >&2)
RAW="${RAW_CLIENT_BIN:-$TARGET/release/raw-client}"
[ -x "$RAW" ] || cargo build --release --manifest-path "$HERE/raw-client/Cargo.toml" --target-dir "$TARGET" >&2
ENV=()
if [ "$CONTENDER" = oss-turbo ]; then
  [ -n "${TURBO_NODE:-}" ] || (cd "$REPO" && cargo build --lib -p oss-turbo --profile profiling \
    --config 'profile.profiling.inherits="release"' --config 'profile.profiling.strip=false' \
    --config 'profile.profiling.debug="line-tables-only"' >&2)
  cp "${TURBO_NODE:-$TARGET/profiling/liboss_turbo.so}" "$WORK/oss-turbo.node"
  ENV=(NAPI_RS_NATIVE_LIBRARY_PATH="$WORK/oss-turbo.node")
fi

head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$WORK/data.bin"
TLS_DIR="$REPO/__test__/fixtures/tls"
EMU_ARGS=(--bench --listen 127.0.0.1:0)
[ "$TLS" = 1 ] && EMU_ARGS+=(--tls-cert "$TLS_DIR/server.pem" --tls-key "$TLS_DIR/server.key")
"$EMU" "${EMU_ARGS[@]}" > "$WORK/emu.out" 2>&1 &
EMU_PID=$!
for _ in $(seq 50); do grep -q listening "$WORK/emu.out" 2>/dev/null && break; sleep 0.1; done
PORT="$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/emu.out")"
[ -n "$PORT" ] || { echo "emulator did not start" >&2; exit 1; }

js_num() { [ "$1" = default ] && echo null || echo "$(($1 * 1024 * 1024))"; }
js_int() { [ "$1" = default ] && echo null || echo "$1"; }
EFF_PART=$([ "$PART" = default ] && echo 1048576 || echo "$((PART * 1024 * 1024))")
EFF_PAR=$([ "$PARALLEL" = default ] && echo 5 || echo "$PARALLEL")
if [ "$TLS" = 1 ]; then
  HOSTPORT="https://localhost:$PORT" URL="https://localhost:$PORT" CA_JSON=",\"ca\":\"$TLS_DIR/ca.pem\",\"sldEnable\":true"
  ENV+=(NODE_EXTRA_CA_CERTS="$TLS_DIR/ca.pem")
else
  HOSTPORT="127.0.0.1:$PORT" URL="http://127.0.0.1:$PORT" CA_JSON=""
fi
cmd() {
  local key="$1"
  if [ "$CONTENDER" = raw ]; then
    local extra=()
    [ "$INPUT" = buffer ] && extra=(--memory)
    [ "$TLS" = 1 ] && extra+=(--ca "$TLS_DIR/ca.pem")
    echo "$RAW" put --endpoint "$HOSTPORT" --bucket examplebucket --key "$key" --file "$WORK/data.bin" \
      --part-size "$EFF_PART" --parallel "$EFF_PAR" "${extra[@]}"
  else
    printf '%s\n' node "$HERE/child.js" "{\"contender\":\"$CONTENDER\",\"opendalPath\":\"$HERE/.opendal/node_modules/opendal\",\"repo\":\"$REPO\",\"endpoint\":\"$URL\"$CA_JSON,\"opendalEndpoint\":\"http://oss.test:$PORT\",\"key\":\"$key\",\"file\":\"$WORK/data.bin\",\"input\":\"$INPUT\",\"partSize\":$(js_num "$PART"),\"parallel\":$(js_int "$PARALLEL"),\"effPartSize\":$EFF_PART,\"effParallel\":$EFF_PAR,\"eldResolutionMs\":1}"
  fi
}
[ "$CONTENDER" = opendal ] && ENV+=(HTTP_PROXY="http://127.0.0.1:$PORT")

mapfile -t CMD < <(cmd profile/perf)
[ "$CONTENDER" = raw ] && read -r -a CMD <<< "${CMD[0]}"
echo "== perf record: $CONTENDER, ${SIZE_MIB} MiB $INPUT, part ${PART} MiB × ${PARALLEL}" >&2
env "${ENV[@]}" perf record -q -e cpu-clock -F 4000 -g -o "$OUT/perf.data" -- "${CMD[@]}" | tee "$OUT/result.json"
perf report -i "$OUT/perf.data" --stdio --no-children --sort comm -g none 2>/dev/null | grep '%' > "$OUT/by-thread.txt"
perf report -i "$OUT/perf.data" --stdio --no-children --sort dso -g none 2>/dev/null | grep '%' > "$OUT/by-dso.txt"
perf report -i "$OUT/perf.data" --stdio --no-children --sort comm,dso,sym -g none 2>/dev/null | grep '%' > "$OUT/by-symbol.txt"
echo "-- by thread" && head -5 "$OUT/by-thread.txt"
echo "-- by library" && head -8 "$OUT/by-dso.txt"
echo "-- top symbols" && head -40 "$OUT/by-symbol.txt"

if [ "$STRACE" = 1 ]; then
  mapfile -t CMD < <(cmd profile/strace)
  [ "$CONTENDER" = raw ] && read -r -a CMD <<< "${CMD[0]}"
  echo "== strace -c -f (a second run; strace slows it down)" >&2
  env "${ENV[@]}" strace -c -f -o "$OUT/strace.txt" -- "${CMD[@]}" > /dev/null
  echo "-- syscalls" && head -16 "$OUT/strace.txt"
fi
echo "(full reports in $OUT)"
