# `<name> <sha256>` of each <name>.bpf.o of @NAMES@ in @BPF_OUT@, `<name> missing` when it is
# absent or empty: what bpf-build.sh records after a build and bpf-build-state.sh reads now.
# One sha256sum for every object: "<sha256>  <dir>/<name>.bpf.o" becomes "<name> <sha256>".
set --
for n in @NAMES@; do
  if [ -s @BPF_OUT@/$n.bpf.o ]; then set -- "$@" @BPF_OUT@/$n.bpf.o; else echo "$n missing"; fi
done
[ $# = 0 ] || sha256sum -- "$@" | while read -r h f; do
  f=${f##*/}
  echo "${f%.bpf.o} $h"
done
