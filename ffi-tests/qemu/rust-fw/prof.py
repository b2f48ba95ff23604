#!/usr/bin/env python3
"""Instruction profile of the `prof` firmware from a QEMU trace.

usage: prof.py <elf> <machine> [top]

Runs `qemu-system-arm -d exec,nochain,in_asm` on the ELF, counts executed guest
instructions per translation block, and attributes them to regions (between the
`prof_mark_<k>` markers) and to functions (ELF symbols; inlined code counts for its caller).
"""
import bisect, collections, re, subprocess, sys, os, tempfile

elf, machine = sys.argv[1], sys.argv[2]
top = int(sys.argv[3]) if len(sys.argv) > 3 else 25

syms = []
for line in subprocess.run(["arm-none-eabi-nm", "-n", "-C", "-S", elf], capture_output=True, text=True).stdout.splitlines():
    parts = line.split(None, 3)
    if len(parts) == 4 and parts[2].lower() in ("t", "w"):
        syms.append((int(parts[0], 16) & ~1, parts[3]))
    elif len(parts) == 3 and parts[1].lower() in ("t", "w"):
        syms.append((int(parts[0], 16) & ~1, parts[2]))
syms.sort()
addrs = [a for a, _ in syms]
marks = {a: int(n.rsplit("_", 1)[1]) for a, n in syms if n.startswith("prof_mark_")}

def sym(pc):
    i = bisect.bisect_right(addrs, pc) - 1
    return syms[i][1] if i >= 0 else "?"

log = tempfile.mktemp(suffix=".log")
subprocess.run(["qemu-system-arm", "-machine", machine, "-nographic", "-semihosting-config",
                "enable=on,target=native", "-d", "exec,nochain,in_asm", "-D", log, "-kernel", elf],
               stdin=subprocess.DEVNULL, timeout=600)
tb_insns = {}  # tb start pc -> list of instruction pcs
cur = None
region = 0
names = {0: "startup", 1: "plan", 2: "build", 3: "open", 4: "query d=32", 5: "query d=16", 6: "end"}
per_region = collections.Counter()
per_fn = collections.defaultdict(collections.Counter)
insn_re = re.compile(r"^0x([0-9a-f]+):")
trace_re = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")
with open(log) as f:
    for line in f:
        m = trace_re.match(line)
        if m:
            pc = int(m.group(1), 16)
            if pc in marks:
                region = marks[pc]
            ins = tb_insns.get(pc)
            if ins is None:
                continue
            per_region[region] += len(ins)
            for p in ins:
                per_fn[region][sym(p)] += 1
            cur = None
            continue
        if line.startswith("IN:"):
            cur = []
            continue
        m = insn_re.match(line)
        if m and cur is not None:
            p = int(m.group(1), 16)
            if not cur:
                tb_insns[p] = cur
            cur.append(p)
        elif cur is not None and line.strip() == "":
            cur = None
os.unlink(log)
for r in sorted(per_region):
    print(f"== region {r} {names.get(r, '?')}: {per_region[r]} instructions")
    for fn, n in per_fn[r].most_common(top):
        print(f"   {n:>10}  {100*n/per_region[r]:5.1f}%  {fn[:110]}")
