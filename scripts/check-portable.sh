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
  cargo-zigbuild check --quiet -p oss-turbo --lib --target "$t"
  echo "check-portable: $t ok" >&2
done
