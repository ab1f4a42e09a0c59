# The batch-job exercise: @BATCH_BT@ runs while @RUNS@ (runs of the sample job @JOB@, each
# followed by `RC <exit>`) run; prints the tool's START/EXIT lines and any ERROR, or
# MISSING when the tool or the job is not installed. @WAIT_ATTACHED@ waits for bpftrace.
test -f @BATCH_BT@ && test -f @JOB@ || { echo MISSING; exit 0; }
out=$(mktemp); bpftrace @BATCH_BT@ > "$out" 2>&1 & bp=$!
trap 'kill -INT $bp 2>/dev/null; rm -f "$out"' EXIT
@WAIT_ATTACHED@
# bpftrace prints "Attaching" before it attaches: give the probes a moment (a busy host was
# seen missing the first run's exec).
sleep 1.5
@RUNS@
# Then until the tool has printed every run's EXIT (at most 5 s), not a fixed pause.
@WAIT_EXITS@
kill -INT $bp; wait $bp
grep -E '^ *[0-9]+ +(START|EXIT) |^ERROR' "$out" | grep -v RLIMIT
