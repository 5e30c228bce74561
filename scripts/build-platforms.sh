#!/usr/bin/env bash
# Builds the prebuilt addons for every platform package with zig as the linker (cargo-zigbuild), into
# target/platforms/oss-turbo.<platform>.node, and checks what each needs from the system's C library:
#   linux-x64-gnu, linux-arm64-gnu    glibc >= 2.17 (zig links against glibc 2.17's symbol versions)
#   linux-x64-musl, linux-arm64-musl  musl, dynamically (`libc.so`, which musl's loader answers itself)
# Needs scripts/setup-cross.sh --build-only first (npm run package runs both).
# Usage: scripts/build-platforms.sh [platform...]   (default: all four)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.cross/bin:$PATH"
OUT=target/platforms
# The zig builds get a target directory of their own: `npm run build` (napi build) builds for the host
# triple in target/x86_64-unknown-linux-gnu, and the glibc-2.17 zig build of that same triple in the same
# directory would rebuild every crate each time one follows the other (different C compiler and linker).
BUILD_DIR=target/zig
mkdir -p "$OUT"

GLIBC_FLOOR=2.17
declare -A TRIPLE=(
  [linux-x64-gnu]="x86_64-unknown-linux-gnu.$GLIBC_FLOOR"
  [linux-arm64-gnu]="aarch64-unknown-linux-gnu.$GLIBC_FLOOR"
  [linux-x64-musl]=x86_64-unknown-linux-musl
  [linux-arm64-musl]=aarch64-unknown-linux-musl
)
platforms=("$@")
[ ${#platforms[@]} -gt 0 ] || platforms=(linux-x64-gnu linux-arm64-gnu linux-x64-musl linux-arm64-musl)

for p in "${platforms[@]}"; do
  t=${TRIPLE[$p]:-}
  [ -n "$t" ] || { echo "build-platforms: unknown platform $p (known: ${!TRIPLE[*]})" >&2; exit 2; }
  echo "build-platforms: $p ($t)" >&2
  start=$SECONDS
  cargo zigbuild --release --quiet -p oss-turbo --lib --target "$t" --target-dir "$BUILD_DIR"
  so="$BUILD_DIR/${t%%.[0-9]*}/release/liboss_turbo.so"
  node="$OUT/oss-turbo.$p.node"
  cp "$so" "$node.tmp" && mv "$node.tmp" "$node"

  # What the binary asks of the C library, read from its ELF version needs (readelf works for any arch).
  needs=$(readelf -d "$node" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
  case $p in
    *-gnu)
      max=$(readelf -V -W "$node" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -t. -k1,1n -k2,2n -k3,3n | tail -1)
      if [ "$(printf '%s\n%s\n' "$max" "$GLIBC_FLOOR" | sort -t. -k1,1n -k2,2n | tail -1)" != "$GLIBC_FLOOR" ]; then
        echo "build-platforms: $node needs GLIBC_$max, above the floor $GLIBC_FLOOR" >&2
        exit 1
      fi
      echo "build-platforms: $node: needs glibc >= $max; links $needs($((SECONDS - start)) s)" >&2
      ;;
    *-musl)
      # zig names musl `libc.so` (Alpine's own builds say libc.musl-<arch>.so.1); musl's loader answers
      # either name with itself. No glibc symbol versions may appear.
      if ! grep -Eq '(^| )libc(\.musl-[a-z0-9_]+)?\.so(\.1)? ' <<<"$needs" || readelf -V -W "$node" | grep -q GLIBC_; then
        echo "build-platforms: $node does not link musl dynamically (needs: $needs)" >&2
        exit 1
      fi
      echo "build-platforms: $node: links $needs($((SECONDS - start)) s)" >&2
      ;;
  esac
done
