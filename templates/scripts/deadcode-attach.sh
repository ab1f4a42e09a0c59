# deadcode --start: bpftrace @DIR@/compiled.bt as the transient unit @UNIT@, its output in
# @LOG@; once it has attached (@WAIT_ATTACHED@ records the time in @DIR@/started) it
# succeeds, else it prints bpftrace's errors and fails.
systemd-run --quiet --unit=@UNIT@ --collect -E BPFTRACE_STRLEN=200 -p StandardOutput=file:@LOG@ -p StandardError=file:@DIR@/bpftrace.err bpftrace -B none @DIR@/compiled.bt &&
  @WAIT_ATTACHED@
cat @DIR@/bpftrace.err @LOG@ >&2; exit 1
