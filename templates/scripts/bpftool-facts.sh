# Which bpftool binaries can work on this host's kernel (src/facts/bpftool.ts): `wrapper` when
# /usr/sbin/bpftool is Ubuntu's linux-tools wrapper script, then one line per real binary
# (the running kernel's tools, /usr/sbin/bpftool, every other linux-tools directory, newest
# first): path, tab, yes/no (it parsed /sys/kernel/btf/vmlinux), tab, `bpftool version`.
# `| head -1` ends the dump after its first line: parsing happens before any output.
k=$(uname -r); seen=""
if head -c2 /usr/sbin/bpftool 2>/dev/null | grep -q "#!"; then echo "wrapper"; fi
for b in /usr/lib/linux-tools/$k/bpftool /usr/sbin/bpftool $(ls -1d /usr/lib/linux-tools-*/bpftool /usr/lib/linux-tools/*/bpftool 2>/dev/null | sort -rV); do
  [ -x "$b" ] || continue; head -c2 "$b" | grep -q "#!" && continue
  r=$(readlink -f "$b"); case " $seen " in *" $r "*) continue;; esac; seen="$seen $r"
  v=$("$b" version 2>/dev/null | head -2 | tr "\n" " ")
  if "$b" btf dump file /sys/kernel/btf/vmlinux format raw 2>/dev/null | head -1 | grep -q "^\[1\]"; then btf=yes; else btf=no; fi
  printf "%s\t%s\t%s\n" "$b" "$btf" "$v"
done
