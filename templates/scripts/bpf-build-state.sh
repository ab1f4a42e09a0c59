# bpf-programs' check: what the objects in @BPF_OUT@ were built from and what they are now,
# in three sections: `@stamp` then the record of the last finished build (@STAMP@: `inputs
# <key>`, `toolchain <compiler and BTF>`, `<name> <sha256>` per object); `@objects` then
# `<name> <sha256>` of each <name>.bpf.o of @NAMES@ on the host (`<name> missing` when absent
# or empty); `@toolchain` then the compiler and kernel BTF now (@TOOLCHAIN@).
echo @stamp
cat @STAMP@ 2>/dev/null
echo @objects
set --
for n in @NAMES@; do
  if [ -s @BPF_OUT@/$n.bpf.o ]; then set -- "$@" @BPF_OUT@/$n.bpf.o; else echo "$n missing"; fi
done
# One sha256sum for every object: "<sha256>  <dir>/<name>.bpf.o" becomes "<name> <sha256>".
[ $# = 0 ] || sha256sum -- "$@" | while read -r h f; do
  f=${f##*/}
  echo "${f%.bpf.o} $h"
done
echo @toolchain
@TOOLCHAIN@
