# `<name> <sha256>` of each <name>.bpf.o of @NAMES@ in @BPF_OUT@, `<name> missing` when it is
# absent or empty: what bpf-build.sh records after a build and bpf-build-state.sh reads now.
# One sha256sum for every object: "<sha256>  <dir>/<name>.bpf.o" becomes "<name> <sha256>".
# Its lines are read from a here-document, not a pipe: the loop at the end of a pipe would
# be one more process. (Under bpf-build.sh's `set -e`, a sha256sum that failed for one
# file still gives the others' lines and does not end the build, as with the pipe.)
set --
for n in @NAMES@; do
  if [ -s @BPF_OUT@/$n.bpf.o ]; then set -- "$@" @BPF_OUT@/$n.bpf.o; else echo "$n missing"; fi
done
H=
[ $# = 0 ] || H=$(sha256sum -- "$@") || true
[ -z "$H" ] || while read -r h f; do
  f=${f##*/}
  echo "${f%.bpf.o} $h"
done <<SUMS
$H
SUMS
