#!/usr/bin/env bash
# Build and run the dpxattn QEMU firmware: Rust on Cortex-M0/M3/M4F, C on the same three,
# plus size probes and negative controls. Installs NOTHING (.ci/qemu.sh does).
#
# One line per run:
#   qemu: PASS <machine> <lang> query_instr=<N> build_instr=<N> stack_bytes=<N> flash_bytes=<N> [more key=value]
#   qemu: FAIL <machine> <lang> <reason> (log: <file>)
# (<lang> is rust or c; the C firmware links the real libdpxattn.a built by
# ffi-tests/build-lib.sh), plus `qemu: PASS <machine> rust-size-… text= data= bss= …` lines
# for the no-printing size probes, `qemu: PASS … control=…` lines for the negative
# controls, and a final `qemu: N passed, M failed`. Exit status 0 only if everything passed.
#
# Environment: QEMU_TARGET_DIR (default <repo>/target/qemu), QEMU_TIMEOUT (seconds per run,
# default 120), QEMU_ICOUNT_SHIFT (default 10), QEMU_CONTROLS=0 to skip the negative controls.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
TD=${QEMU_TARGET_DIR:-$root/target/qemu}
TIMEOUT=${QEMU_TIMEOUT:-120}
SHIFT=${QEMU_ICOUNT_SHIFT:-10}
OUT=$TD/out
mkdir -p "$OUT"
export CARGO_TERM_COLOR=never

# machine : Rust target : gcc CPU flags
MACHINES=(
  "microbit:thumbv6m-none-eabi:-mcpu=cortex-m0"
  "lm3s6965evb:thumbv7m-none-eabi:-mcpu=cortex-m3"
  "mps2-an386:thumbv7em-none-eabihf:-mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard"
)
CONTROL_MACHINE=lm3s6965evb

passes=0
fails=0
pass() { passes=$((passes + 1)); echo "qemu: PASS $*"; }
fail() { fails=$((fails + 1)); echo "qemu: FAIL $*"; }

# --- tools (installed by .ci/qemu.sh, never here) ------------------------------------------
missing=""
for tool in cargo rustup qemu-system-arm arm-none-eabi-gcc arm-none-eabi-size arm-none-eabi-nm timeout; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
for t in thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf; do
  rustup target list --installed 2>/dev/null | grep -qx "$t" || missing="$missing rust-target:$t"
done
if [ -n "$missing" ]; then
  echo "qemu: FAIL setup: missing$missing (run .ci/qemu.sh to install)"
  exit 1
fi

# run <log> <quiet-cargo-command...>: run a build step, show its output only on failure.
build() {
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    tail -n 30 "$log" | sed 's/^/    /'
    return 1
  fi
}

# qemu <machine> <elf> <log> [timeout]: run under QEMU; the exit status is the guest's
# semihosting exit code (124 if `timeout` had to stop a hang).
qemu() {
  timeout -k 5 "${4:-$TIMEOUT}" qemu-system-arm -machine "$1" -nographic \
    -semihosting-config enable=on,target=native -icount shift="$SHIFT" -kernel "$2" \
    </dev/null >"$3" 2>&1
}

# flash bytes of an ELF: .text (code + rodata + vectors) + .data (initialised, stored in flash)
flash_bytes() { arm-none-eabi-size "$1" | awk 'NR == 2 { print $1 + $2 }'; }
# golden data embedded in a Rust ELF (symbols of qemu_fw::data), to keep it out of code sizes
golden_bytes() {
  arm-none-eabi-nm -S -t d -C "$1" 2>/dev/null | awk '/qemu_fw::data::/ { s += $2 } END { print s + 0 }'
}

# report <machine> <lang> <elf> <log> <rc>: parse the firmware's RESULT line. The four
# required keys come first, then every other key=value the firmware printed.
report() {
  local machine=$1 lang=$2 elf=$3 log=$4 rc=$5 res q b s extras
  res=$(grep -m1 '^qemu-fw: RESULT ' "$log" | sed 's/^qemu-fw: RESULT //')
  get() { echo "$res" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
  q=$(get query_instr)
  b=$(get build_instr)
  s=$(get stack_bytes)
  if [ "$rc" -ne 0 ] || [ -z "$q" ] || [ -z "$b" ] || [ -z "$s" ]; then
    fail "$machine $lang exit=$rc (log: $log)"
    grep -E '^FAIL|panicked|stack use' "$log" | head -5 | sed 's/^/    /'
    return
  fi
  extras=$(echo "$res" | tr ' ' '\n' | grep -v -E '^(machine|query_instr|build_instr|stack_bytes)=' | tr '\n' ' ')
  pass "$machine $lang query_instr=$q build_instr=$b stack_bytes=$s flash_bytes=$(flash_bytes "$elf") ${extras% }"
}

# --- host: workload tests and golden vectors -----------------------------------------------
export CARGO_TARGET_DIR=$TD/host
if ! build "$OUT/host-test.log" cargo test -q --manifest-path "$here/workload/Cargo.toml" --features std; then
  fail "host workload tests (log: $OUT/host-test.log)"
fi
# (the Rust firmware computes the same vectors in its build.rs; C gets golden.h per machine)
for spec in "${MACHINES[@]}"; do
  machine=${spec%%:*}
  if ! build "$OUT/golden.log" cargo run -q --manifest-path "$here/workload/Cargo.toml" \
    --features std --bin qemu-golden -- "$OUT/golden/$machine" "$machine"; then
    fail "host golden generator (log: $OUT/golden.log)"
    echo "qemu: $passes passed, $fails failed"
    exit 1
  fi
done

for spec in "${MACHINES[@]}"; do
  IFS=: read -r machine target cpu <<<"$spec"

  # --- the dpxattn C library (libdpxattn.a) the C firmware links ---------------------------
  # ffi-tests/build-lib.sh: `cargo rustc --crate-type staticlib --features panic-handler`,
  # release profile, here at opt-level "s" like the Rust firmware (CARGO_PROFILE_RELEASE_OPT_LEVEL)
  # so that both languages run the same library code.
  a=""
  if build "$OUT/lib-$target.log" env CARGO_TARGET_DIR="$TD/lib" CARGO_PROFILE_RELEASE_OPT_LEVEL=s \
    "$root/ffi-tests/build-lib.sh" "$target"; then
    a=$(tail -n 1 "$OUT/lib-$target.log")
    n=$(arm-none-eabi-nm -g --defined-only "$a" 2>/dev/null | grep -c ' T dpx_')
    echo "qemu: BUILD $target libdpxattn.a ok (exports $n dpx_* functions)"
    if [ "$n" -lt 10 ]; then
      fail "$machine libdpxattn.a exports only $n dpx_* functions ($a)"
      a=""
    fi
  else
    fail "$machine libdpxattn.a: ffi-tests/build-lib.sh $target (log: $OUT/lib-$target.log)"
  fi

  # --- Rust firmware ---------------------------------------------------------------------
  export CARGO_TARGET_DIR=$TD/fw
  elf=$TD/fw/$target/release/qemu-fw
  log=$OUT/rust-$machine.log
  if build "$OUT/build-rust-$machine.log" bash -c "cd '$here/rust-fw' && cargo build -q --release --target $target --bin qemu-fw"; then
    qemu "$machine" "$elf" "$log"
    report "$machine" rust "$elf" "$log" $?
  else
    fail "$machine rust build (log: $OUT/build-rust-$machine.log)"
  fi

  # --- Rust size probes: no semihosting printing, no core::fmt ------------------------------
  export CARGO_TARGET_DIR=$TD/fw-size
  if build "$OUT/build-size-$machine.log" bash -c "cd '$here/rust-fw' && cargo build -q --release --target $target --no-default-features --bins"; then
    base=$TD/fw-size/$target/release/size-empty
    base_flash=$(flash_bytes "$base")
    for probe in size-empty size-query size-build size-build-plan; do
      e=$TD/fw-size/$target/release/$probe
      qemu "$machine" "$e" "$OUT/$probe-$machine.log"
      rc=$?
      read -r text data bss _ <<<"$(arm-none-eabi-size "$e" | awk 'NR == 2')"
      g=$(golden_bytes "$e")
      over=$(($(flash_bytes "$e") - base_flash - g))
      if [ "$rc" -eq 0 ]; then
        pass "$machine rust-$probe text=$text data=$data bss=$bss golden_data=$g code_over_empty=$over"
      else
        fail "$machine rust-$probe exit=$rc (log: $OUT/$probe-$machine.log)"
      fi
    done
  else
    fail "$machine rust size probes build (log: $OUT/build-size-$machine.log)"
  fi

  # --- C firmware (links the real libdpxattn.a) -----------------------------------------
  celf=$OUT/c-$machine.elf
  log=$OUT/c-$machine.log
  # $cpu is deliberately unquoted: it holds several gcc flags.
  # shellcheck disable=SC2086
  if [ -n "$a" ] && build "$OUT/build-c-$machine.log" arm-none-eabi-gcc $cpu -mthumb -O2 -g -std=c11 -Wall -Wextra -Werror \
      -ffunction-sections -fdata-sections -DMACHINE="\"$machine\"" -I"$OUT/golden/$machine" -I"$here/c" -I"$root/include" \
      --specs=rdimon.specs -L"$here/c/ld" -T "$machine.ld" -Wl,--gc-sections -Wl,--no-warn-execstack \
      -Wl,-Map="$OUT/c-$machine.map" -o "$celf" \
      "$here/c/main.c" "$here/c/measure.c" "$here/c/startup.c" "$here/c/sha256.c" "$a"; then
    cp "$a" "$OUT/libdpxattn-$target.a"
    qemu "$machine" "$celf" "$log"
    report "$machine" c "$celf" "$log" $?
  else
    fail "$machine c build (log: $OUT/build-c-$machine.log)"
  fi
done

# --- negative controls: a wrong expected value must fail the run, a hang must time out ------
# expect <want-rc> <name> <machine> <elf> [timeout]
expect() {
  local want=$1 name=$2 machine=$3 elf=$4 rc
  qemu "$machine" "$elf" "$OUT/control-$name.log" "${5:-$TIMEOUT}"
  rc=$?
  if [ "$rc" -eq "$want" ]; then
    pass "$machine $name exit=$rc (a control: it must exit $want)"
  else
    fail "$machine $name exit=$rc, the control must exit $want (log: $OUT/control-$name.log)"
  fi
}
if [ "${QEMU_CONTROLS:-1}" != 0 ]; then
  target=thumbv7m-none-eabi
  export CARGO_TARGET_DIR=$TD/fw-control
  for f in inject-fail inject-hang; do
    if build "$OUT/build-control-$f.log" bash -c "cd '$here/rust-fw' && cargo build -q --release --target $target --bin qemu-fw --features $f"; then
      cp "$TD/fw-control/$target/release/qemu-fw" "$OUT/rust-$f.elf"
    else
      fail "$CONTROL_MACHINE rust control $f build (log: $OUT/build-control-$f.log)"
    fi
  done
  [ -f "$OUT/rust-inject-fail.elf" ] && expect 1 "rust control=inject-fail" "$CONTROL_MACHINE" "$OUT/rust-inject-fail.elf"
  [ -f "$OUT/rust-inject-hang.elf" ] && expect 124 "rust control=inject-hang" "$CONTROL_MACHINE" "$OUT/rust-inject-hang.elf" 5
  lib_m3=$OUT/libdpxattn-$target.a
  if [ -f "$lib_m3" ] && build "$OUT/build-control-c.log" arm-none-eabi-gcc -mcpu=cortex-m3 -mthumb -O2 -std=c11 -Wall -Wextra -Werror \
    -ffunction-sections -fdata-sections -DINJECT_FAIL -DMACHINE="\"$CONTROL_MACHINE\"" \
    -I"$OUT/golden/$CONTROL_MACHINE" -I"$here/c" -I"$root/include" --specs=rdimon.specs -L"$here/c/ld" -T "$CONTROL_MACHINE.ld" \
    -Wl,--gc-sections -Wl,--no-warn-execstack -o "$OUT/c-inject-fail.elf" \
    "$here/c/main.c" "$here/c/measure.c" "$here/c/startup.c" "$here/c/sha256.c" "$lib_m3"; then
    expect 1 "c control=inject-fail" "$CONTROL_MACHINE" "$OUT/c-inject-fail.elf"
  else
    fail "$CONTROL_MACHINE c control inject-fail build (log: $OUT/build-control-c.log)"
  fi
fi

echo "qemu: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
