/**
 * Shell for waiting on a host: try `until` up to `tries` times, `every` seconds apart, and
 * leave as soon as it holds, or as soon as `giveUpIf` holds (the thing waited for is gone).
 * Then the script goes on; what follows reads the outcome itself.
 */
export function waitLoop(until: string, o: { tries: number; every: number; giveUpIf?: string }): string {
  const giveUp = o.giveUpIf ? ` ${o.giveUpIf} && break;` : '';
  return `for i in $(seq ${o.tries}); do ${until} && break;${giveUp} sleep ${o.every}; done`;
}

/** Waits until bpftrace (pid in $bp, output in `out`) has attached its probes, or has died. */
export function waitBpftraceAttached(out: string, seconds: number): string {
  return waitLoop(`grep -q '^Attaching' ${out}`, {
    tries: seconds * 10,
    every: 0.1,
    giveUpIf: '! kill -0 $bp 2>/dev/null',
  });
}
