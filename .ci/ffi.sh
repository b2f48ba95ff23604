#!/usr/bin/env bash
# CI for the C ABI (issue 4), on top of `cargo test` (which already checks header drift,
# the golden vectors and runs the C/C++ tests under ASan+UBSan against a debug library):
#   1. builds the release host archive with ffi-tests/build-lib.sh and runs the C99 tests,
#      the C++17 test and the examples/c program against it, under valgrind and then
#      under ASan+UBSan;
#   2. builds the archives for thumbv6m-none-eabi, thumbv7em-none-eabihf,
#      aarch64-linux-android and aarch64-apple-ios (build only) and checks their symbols;
#   3. links the golden test for Cortex-M0 with arm-none-eabi-gcc when it is installed.
# Self-contained: installs valgrind and the rustup targets it needs. Exits non-zero on failure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TERM_COLOR=never
step() { printf '\n==== ffi: %s ====\n' "$*"; }

step "tools"
if ! command -v valgrind >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind >/dev/null
fi
for t in cc c++ valgrind; do command -v "$t" >/dev/null || { echo "missing $t"; exit 1; }; done
rustup target add thumbv6m-none-eabi thumbv7em-none-eabihf aarch64-linux-android aarch64-apple-ios >/dev/null

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step "host archive (release)"
lib="$(ffi-tests/build-lib.sh | tail -n 1)"
ls -l "$lib"
libs=(-lpthread -ldl -lm)
warn=(-Wall -Wextra -Wpedantic -Werror)
inc=(-Iinclude -Iffi-tests)

build_all() { # $1 = suffix, rest = extra flags
  local sfx="$1"; shift
  cc -std=c99 "${warn[@]}" "$@" "${inc[@]}" ffi-tests/test_api.c ffi-tests/common.c "$lib" "${libs[@]}" -o "$work/test_api$sfx"
  cc -std=c99 "${warn[@]}" "$@" "${inc[@]}" ffi-tests/test_golden.c ffi-tests/common.c "$lib" "${libs[@]}" -o "$work/test_golden$sfx"
  cc -std=c99 "${warn[@]}" "$@" "${inc[@]}" ffi-tests/test_tree.c ffi-tests/common.c "$lib" "${libs[@]}" -o "$work/test_tree$sfx"
  cc -std=c99 "${warn[@]}" "$@" "${inc[@]}" -c ffi-tests/common.c -o "$work/common$sfx.o"
  c++ -std=c++17 "${warn[@]}" "$@" "${inc[@]}" ffi-tests/test_cpp.cpp "$work/common$sfx.o" "$lib" "${libs[@]}" -o "$work/test_cpp$sfx"
  cc -std=c99 "${warn[@]}" "$@" -Iinclude examples/c/dpx_example.c "$lib" "${libs[@]}" -o "$work/dpx_example$sfx"
  cc -std=c99 "${warn[@]}" "$@" -Iinclude examples/c/quickstart.c "$lib" "${libs[@]}" -o "$work/quickstart$sfx"
}
run_all() { # $1 = suffix, rest = runner prefix
  local sfx="$1"; shift
  "$@" "$work/test_api$sfx"
  "$@" "$work/test_golden$sfx"
  "$@" "$work/test_tree$sfx"
  "$@" "$work/test_cpp$sfx"
  "$@" "$work/dpx_example$sfx" examples/data/minilm/n512_layer2 "$work/head0.dpx"
  "$@" "$work/quickstart$sfx"
}

step "C99 / C++17 tests under valgrind (release archive)"
build_all "" -O1 -g
run_all "" valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect

step "C99 / C++17 tests under ASan + UBSan (release archive)"
build_all "_san" -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 run_all "_san"

step "the CMake snippet (examples/c/CMakeLists.txt)"
if ! command -v cmake >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cmake make >/dev/null
fi
cmake -S examples/c -B "$work/cmake" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/cmake" >/dev/null
"$work/cmake/quickstart"
"$work/cmake/dpx_example" examples/data/minilm/n512_layer2 "$work/cmake/head0.dpx"

step "device and mobile archives"
for t in thumbv6m-none-eabi thumbv7em-none-eabihf aarch64-linux-android aarch64-apple-ios; do
  a="$(ffi-tests/build-lib.sh "$t" | tail -n 1)"
  test -f "$a"
  # every exported entry point is in the archive (Mach-O symbols carry a leading '_')
  n="$(strings -a "$a" | grep -oE '^_?dpx_(params_init|plan_new|build|build_begin|build_push|build_finish|open|query|query_range|bound|status_str)$' | sed 's/^_//' | sort -u | wc -l)"
  echo "$t: $a ($(wc -c <"$a") bytes, $n/11 DESIGN entry points found)"
  [ "$n" -ge 11 ] || { echo "entry points missing from $a"; exit 1; }
done

step "Cortex-M0 link check of the golden test"
if command -v arm-none-eabi-gcc >/dev/null; then
  m0="$(ffi-tests/build-lib.sh thumbv6m-none-eabi | tail -n 1)"
  arm-none-eabi-gcc -mcpu=cortex-m0 -mthumb -std=c99 "${warn[@]}" -Os -ffunction-sections -fdata-sections \
    "${inc[@]}" --specs=nosys.specs -Wl,--gc-sections -Wl,--no-warn-execstack \
    ffi-tests/test_golden.c ffi-tests/common.c "$m0" -o "$work/test_golden_m0.elf"
  arm-none-eabi-size "$work/test_golden_m0.elf"
else
  echo "arm-none-eabi-gcc not installed: link check skipped (the QEMU job runs code on the MCUs)"
fi

step "done"
