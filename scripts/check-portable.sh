#!/usr/bin/env bash
# `cargo check` of the addon for the systems it has no prebuilt binary for (nothing here can run them):
# macOS on Apple silicon and Windows. zig (cargo-zigbuild) is the C compiler for the build scripts that
# compile C (aws-lc-sys). Needs scripts/setup-cross.sh --build-only first.
# Usage: scripts/check-portable.sh [target...]   (default: aarch64-apple-darwin x86_64-pc-windows-gnu)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.cross/bin:$PATH"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-apple-darwin x86_64-pc-windows-gnu)
for t in "${targets[@]}"; do
  echo "check-portable: $t" >&2
  # zig's MinGW headers have no sched.h, which aws-lc's jitter entropy source includes: leave that one C
  # file out of this check (a real Windows build compiles it with MSVC's or MinGW's own headers).
  # napi's build script for windows-gnu looks for a libnode.dll to link against (LIBNODE_PATH); a check
  # links nothing, so an empty stand-in satisfies it. A real Windows build uses MSVC and `dyn-symbols`.
  case $t in
    *-windows-gnu)
      export AWS_LC_SYS_NO_JITTER_ENTROPY=1 LIBNODE_PATH=$PWD/target/check-portable/libnode
      mkdir -p "$LIBNODE_PATH" && : >"$LIBNODE_PATH/libnode.dll"
      ;;
    *) unset AWS_LC_SYS_NO_JITTER_ENTROPY LIBNODE_PATH ;;
  esac
  # Apple's clang builds for the M1 by default (NEON and the crypto extensions, which aws-lc requires on
  # Apple arm64); zig's default aarch64 CPU has no crypto extensions: ask for the M1.
  case $t in aarch64-apple-darwin) export CFLAGS_aarch64_apple_darwin=-mcpu=apple_m1 ;; esac
  cargo-zigbuild check --quiet -p oss-turbo --lib --target "$t"
  echo "check-portable: $t ok" >&2
done
