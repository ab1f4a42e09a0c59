# bench's stand-in for ebpf_exporter: bpftrace @PROG@ as the transient unit @UNIT@ (easy
# to stop by name from a later run; it stops by itself after 15 min), output in @LOG@.
# Succeeds once it has attached (@WAIT_ATTACHED@); else prints its log and fails.
rm -f @LOG@
systemd-run --quiet --unit=@UNIT@ --collect -p RuntimeMaxSec=900 -p StandardOutput=file:@LOG@ -p StandardError=file:@LOG@ bpftrace @PROG@ &&
  @WAIT_ATTACHED@
cat @LOG@ >&2; exit 1
