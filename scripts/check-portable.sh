#!/usr/bin/env bash
# `cargo check` of the addon for the systems it has no prebuilt binary for (nothing here can run them):
# macOS on Apple silicon and Windows. zig (cargo-zigbuild) is the C compiler for the build scripts that
# compile C (ring, the TLS crypto, compiles a little C and assembly with the cc crate; on x86_64 Windows it
# links the objects pre-assembled in the crate, so no NASM). Needs scripts/setup-cross.sh --build-only first.
# Usage: scripts/check-portable.sh [target...]   (default: aarch64-apple-darwin x86_64-pc-windows-gnu)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.cross/bin:$PATH"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-apple-darwin x86_64-pc-windows-gnu)
for t in "${targets[@]}"; do
  echo "check-portable: $t" >&2
  start=$SECONDS
  # napi's build script for windows-gnu looks for a libnode.dll to link against (LIBNODE_PATH) and panics
  # without one; a check links nothing, so an empty stand-in satisfies it. A real Windows build uses MSVC
  # and napi's `dyn-symbols` feature (Cargo.toml), which needs no libnode.
  case $t in
    *-windows-gnu)
      export LIBNODE_PATH=$PWD/target/check-portable/libnode
      mkdir -p "$LIBNODE_PATH" && : >"$LIBNODE_PATH/libnode.dll"
      ;;
    *) unset LIBNODE_PATH ;;
  esac
  cargo-zigbuild check --quiet -p oss-turbo --lib --target "$t"
  echo "check-portable: $t ok ($((SECONDS - start)) s)" >&2
done
