import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WaitTimeoutError, tcpConnect, waitForPort } from '../../src/cloud/wait.js';

function fakeTime(): { sleep: (ms: number) => Promise<void>; now: () => number; slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return { slept, now: () => t, sleep: async (ms) => void (slept.push(ms), (t += ms)) };
}
const refused = (): Error => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });

let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

describe('waitForPort', () => {
  it('retries until the port answers and returns the attempts used', async () => {
    const t = fakeTime();
    let n = 0;
    const seen: Array<[string, number]> = [];
    const attempts = await waitForPort('203.0.113.9', 22, {
      ...t,
      connect: async (host, port) => {
        seen.push([host, port]);
        if (++n < 4) throw refused();
      },
    });
    expect(attempts).toBe(4);
    expect(t.slept).toEqual([2000, 2000, 2000]);
    expect(seen[0]).toEqual(['203.0.113.9', 22]);
  });

  it('times out with the last connection error', async () => {
    const t = fakeTime();
    const err = await waitForPort('203.0.113.9', 22, {
      ...t,
      timeoutMs: 10_000,
      connect: async () => {
        throw refused();
      },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect(err.message).toBe('203.0.113.9:22 did not accept connections within 10 s (last error: ECONNREFUSED)');
    expect(t.now()).toBeLessThanOrEqual(10_000);
  });

  it('the real TCP probe connects to a listening port and fails on a closed one', async () => {
    server = createServer((s) => s.end());
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    await expect(tcpConnect('127.0.0.1', port, 2000)).resolves.toBeUndefined();
    expect(await waitForPort('127.0.0.1', port, { timeoutMs: 2000 })).toBe(1);
    await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
    await expect(tcpConnect('127.0.0.1', port, 2000)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
