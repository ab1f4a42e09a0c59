# bt-tools' prove: compiles each installed tool of @TOOLS@ in @BT_DIR@ with this host's
# bpftrace (--emit-elf: parse, semantic checks, codegen, no attach); one line per tool:
# `<tool> ok`, `<tool> fail <first error line>` or `<tool> absent`.
for t in @TOOLS@; do
  if [ -f @BT_DIR@/$t ]; then
    if out=$(timeout 60 bpftrace --emit-elf /tmp/.ebpf-lab-bt.elf @BT_DIR@/$t 2>&1 >/dev/null); then echo "$t ok"
    else echo "$t fail $(echo "$out" | grep -i error | grep -v RLIMIT_MEMLOCK | head -1)"; fi
  else echo "$t absent"; fi
done
rm -f /tmp/.ebpf-lab-bt.elf
