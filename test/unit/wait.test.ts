import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { waitBpftraceAttached, waitLoop } from '../../src/resources/wait.js';

const sh = (script: string) => execFileSync('sh', ['-c', script], { encoding: 'utf8', timeout: 10_000 });

describe('waitLoop', () => {
  it('leaves as soon as the condition holds', () => {
    const t0 = Date.now();
    expect(sh(`n=0; ${waitLoop('n=$((n + 1)); [ $n -ge 3 ]', { tries: 50, every: 0.05 })}; echo "$n"`).trim()).toBe(
      '3',
    );
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('gives up after its tries, or at once when giveUpIf holds', () => {
    expect(sh(`n=0; ${waitLoop('n=$((n + 1)); false', { tries: 4, every: 0 })}; echo "$n"`).trim()).toBe('4');
    expect(
      sh(
        `n=0; ${waitLoop('n=$((n + 1)); false', { tries: 40, every: 0, giveUpIf: '[ $n -ge 2 ]' })}; echo "$n"`,
      ).trim(),
    ).toBe('2');
  });

  it('with `then`, runs it as soon as the condition holds (exit 0), else goes on to the timeout path', () => {
    const ok = (cond: string) =>
      sh(
        `n=0; ${waitLoop(`n=$((n + 1)); ${cond}`, { tries: 3, every: 0, then: 'echo "held at $n"; exit 0' })}; echo "timed out at $n"; exit 0`,
      ).trim();
    expect(ok('[ $n -ge 2 ]')).toBe('held at 2');
    expect(ok('false')).toBe('timed out at 3');
  });

  it('runs `each` after every failed try', () => {
    expect(
      sh(
        `n=0; k=0; ${waitLoop('[ $n -ge 3 ]', { tries: 10, every: 0, each: 'n=$((n + 1)); k=$((k + 1))' })}; echo "$n $k"`,
      ).trim(),
    ).toBe('3 3');
  });

  it('waits for bpftrace to attach, and not for one that died', () => {
    const t0 = Date.now();
    // a stand-in for bpftrace that prints "Attaching" after 0.3 s
    expect(
      sh(
        `out=$(mktemp); { sleep 0.3; echo 'Attaching 2 probes...' > "$out"; sleep 5; } >/dev/null 2>&1 & bp=$!; ${waitBpftraceAttached('"$out"', 5)}; cat "$out"; kill $bp; rm -f "$out"`,
      ),
    ).toMatch(/^Attaching/);
    const dead = Date.now();
    expect(
      sh(
        `out=$(mktemp); true & bp=$!; sleep 0.2; ${waitBpftraceAttached('"$out"', 5)}; echo gone; rm -f "$out"`,
      ).trim(),
    ).toBe('gone');
    expect(Date.now() - dead, 'a dead bpftrace is not waited for').toBeLessThan(2000);
    expect(dead - t0).toBeLessThan(3000);
  });
});
