#!/usr/bin/env bash
# Builds the dpxattn C static library and prints the path of the .a on its LAST line.
#
#   ffi-tests/build-lib.sh                        # host (links std: see below)
#   ffi-tests/build-lib.sh thumbv6m-none-eabi     # Cortex-M0/M0+ (no_std, panic-handler)
#   ffi-tests/build-lib.sh thumbv7em-none-eabihf  # Cortex-M4F/M7 (no_std, panic-handler)
#   ffi-tests/build-lib.sh aarch64-linux-android  # Android (std), build only
#   ffi-tests/build-lib.sh aarch64-apple-ios      # iOS (std), build only
#
# Release profile (panic = "abort", LTO). The crate stays `crate-type = ["rlib"]`; the
# archive comes from `cargo rustc --crate-type staticlib` (see EMBEDDED.md §2.3):
#   - bare-metal targets (`*-none*`): `--features panic-handler` (a spin-loop handler; the
#     library has no reachable panic) -- link with -Wl,--gc-sections, nothing else needed;
#   - hosted targets (host, Android, iOS): `--features std`, whose handler prints a message
#     and aborts; link with the native libraries printed above the path (Linux:
#     -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc, i.e. `-lpthread -ldl -lm` with cc).
# The linker flags rustc reports are also saved next to the archive, in
# libdpxattn.native-static-libs.txt. Missing rustup targets are added.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${1:-}"

case "$target" in
  *-none | *-none-*) feature=panic-handler ;;
  *) feature=std ;;
esac

args=(rustc --lib --release --crate-type staticlib --features "$feature")
if [ -n "$target" ]; then
  if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    rustup target add "$target" >&2
  fi
  args+=(--target "$target")
fi

target_dir="${CARGO_TARGET_DIR:-$root/target}"
mkdir -p "$target_dir"
target_dir="$(cd "$target_dir" && pwd)"
out_dir="$target_dir/${target:+$target/}release"
mkdir -p "$out_dir"
libs_file="$out_dir/libdpxattn.native-static-libs.txt"

# The print is written only when rustc actually runs (not on a cached build), so the
# file keeps the flags of the last real compile of this target.
cargo "${args[@]}" -- --print "native-static-libs=$libs_file" >&2

lib="$out_dir/libdpxattn.a"
if [ ! -f "$lib" ]; then
  echo "build-lib.sh: $lib was not produced" >&2
  exit 1
fi
if [ -s "$libs_file" ]; then
  echo "link flags: $(cat "$libs_file")" >&2
fi
echo "$lib"
