# bpf-programs' verify: for each program of @NAMES@, one line `<name> <size of
# <name>.bpf.o in bytes, 0 when absent> <yaml when <name>.yaml is not empty>`.
cd @BPF_OUT@ && for n in @NAMES@; do
  printf '%s %s %s\n' $n "$(stat -c %s $n.bpf.o 2>/dev/null || echo 0)" "$(test -s $n.yaml && echo yaml)"
done
