# bpf-programs' prove: every object of @NAMES@ in @BPF_OUT@ loads through the kernel's
# verifier with @BPFTOOL@ (pinned in a scratch bpffs directory, then removed). One line per
# program: `<name> ok <programs loaded>` or `<name> fail <bpftool's last lines>`.
# bpffs, not just a mount point: Ubuntu 22.04's systemd (249) leaves a container's bound
# /sys/fs/bpf a plain sysfs directory.
[ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" = bpf_fs ] || mount -t bpf bpf /sys/fs/bpf
# A random part too: containers that share the host's bpffs can have the same pid.
d=/sys/fs/bpf/ebpf-lab-verify-$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
for n in @NAMES@; do
  # bpftool creates the (single-level) pin directory itself.
  if out=$(@BPFTOOL@ prog loadall @BPF_OUT@/$n.bpf.o $d-$n 2>&1); then echo "$n ok $(ls $d-$n | wc -l)"
  else echo "$n fail $(echo "$out" | grep -v '^Warning' | tail -3 | tr '\n' ' ')"; fi
  rm -rf $d-$n
done
true
