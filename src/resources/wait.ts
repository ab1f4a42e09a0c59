/**
 * The one helper for waiting on a host, as shell: try `until` up to `tries` times, `every`
 * seconds apart, and leave as soon as it holds, or as soon as `giveUpIf` holds (the thing
 * waited for is gone). Then the script goes on and reads the outcome itself; or, with
 * `then`, runs that as soon as `until` holds (`exit 0`: the script succeeds there, and
 * what follows the loop is the timeout's path). `each` runs after every failed try
 * (to poke what is waited for).
 */
export function waitLoop(
  until: string,
  o: { tries: number; every: number; giveUpIf?: string; then?: string; each?: string },
): string {
  const giveUp = o.giveUpIf ? ` ${o.giveUpIf} && break;` : '';
  const done = o.then ? `{ ${o.then}; }` : 'break';
  const each = o.each ? ` ${o.each};` : '';
  // The loop's variable is one no script uses (the load generator counts with `i`).
  return `for _w in $(seq ${o.tries}); do ${until} && ${done};${giveUp}${each} sleep ${o.every}; done`;
}

/** Waits until bpftrace (pid in $bp, output in `out`) has attached its probes, or has died. */
export function waitBpftraceAttached(out: string, seconds: number): string {
  return waitLoop(`grep -q '^Attaching' ${out}`, {
    tries: seconds * 10,
    every: 0.1,
    giveUpIf: '! kill -0 $bp 2>/dev/null',
  });
}
