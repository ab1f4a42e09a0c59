import { describe, expect, it } from 'vitest';
import { runPool, withThrottleRetry, type PoolEvent } from '../../src/cloud/pool.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('runPool', () => {
  it('never has more than `limit` calls in flight and keeps result order', async () => {
    let inFlight = 0;
    let max = 0;
    const items = Array.from({ length: 12 }, (_, i) => i);
    const results = await runPool(items, 3, async (n) => {
      inFlight++;
      max = Math.max(max, inFlight);
      for (let k = 0; k < (n % 4) + 1; k++) await tick(); // uneven durations
      inFlight--;
      return n * 10;
    });
    expect(max).toBe(3);
    expect(results).toEqual(items.map((n) => ({ ok: true, value: n * 10 })));
  });

  it('isolates failures: the others finish and every outcome is reported', async () => {
    const events: PoolEvent<string, string>[] = [];
    const results = await runPool(
      ['a', 'b', 'c', 'd'],
      2,
      async (s) => {
        await tick();
        if (s === 'b') throw new Error('b broke');
        return s.toUpperCase();
      },
      { onEvent: (e) => events.push(e) },
    );
    expect(results.map((r) => (r.ok ? r.value : (r.error as Error).message))).toEqual(['A', 'b broke', 'C', 'D']);
    expect(events.filter((e) => e.type === 'start')).toHaveLength(4);
    expect(events.find((e) => e.type === 'fail')).toMatchObject({ index: 1, item: 'b' });
    expect(
      events
        .filter((e) => e.type === 'done')
        .map((e) => e.index)
        .sort(),
    ).toEqual([0, 2, 3]);
  });

  it('survives a throwing event handler, an empty list, and refuses a zero limit', async () => {
    const r = await runPool([1], 4, async (n) => n, {
      onEvent: () => {
        throw new Error('renderer');
      },
    });
    expect(r).toEqual([{ ok: true, value: 1 }]);
    expect(await runPool([], 4, async (n: number) => n)).toEqual([]);
    await expect(runPool([1], 0, async (n) => n)).rejects.toThrow(RangeError);
  });
});

describe('withThrottleRetry', () => {
  const named = (name: string): Error => Object.assign(new Error(name), { name });

  it('retries ThrottlingException, TooManyRequests and HTTP 429 with growing delays', async () => {
    const failures = [
      named('ThrottlingException'),
      named('TooManyRequestsException'),
      Object.assign(new Error('slow'), { $metadata: { httpStatusCode: 429 } }),
    ];
    const slept: number[] = [];
    let calls = 0;
    const v = await withThrottleRetry(
      async () => {
        const f = failures[calls++];
        if (f) throw f;
        return 'ok';
      },
      { sleep: async (ms) => void slept.push(ms), baseMs: 100, random: () => 1 },
    );
    expect(v).toBe('ok');
    expect(slept).toEqual([100, 200, 400]);
  });

  it('caps each delay and rethrows other errors at once', async () => {
    const slept: number[] = [];
    let calls = 0;
    await expect(
      withThrottleRetry(
        async () => {
          calls++;
          throw named('ThrottlingException');
        },
        { sleep: async (ms) => void slept.push(ms), retries: 5, baseMs: 1000, maxMs: 3000, random: () => 1 },
      ),
    ).rejects.toThrow('ThrottlingException');
    expect(slept).toEqual([1000, 2000, 3000, 3000, 3000]);
    expect(calls).toBe(6);
    calls = 0;
    await expect(
      withThrottleRetry(
        async () => {
          calls++;
          throw named('InvalidInputException');
        },
        { sleep: async () => {} },
      ),
    ).rejects.toThrow('InvalidInputException');
    expect(calls).toBe(1);
  });
});
