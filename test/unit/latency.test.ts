import { describe, expect, it } from 'vitest';
import { FakeTransport, type FakeRule } from '../../src/transports/fake.js';
import {
  addCommands,
  clearLatency,
  CLEAR_COMMAND,
  injectLatency,
  parseDelay,
  parsePort,
  rootQdisc,
} from '../../src/commands/latency.js';
import { NETEM_TEST } from '../../src/facts/doctor.js';
import { UserError } from '../../src/errors.js';

/** `tc qdisc show dev lo` / `tc filter show dev lo` as tc prints them with the lab's delay in place. */
const OURS_QDISC =
  'qdisc prio eb00: root refcnt 2 bands 4 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1\nqdisc netem eb04: parent eb00:4 limit 1000 delay 2ms';
const OURS_FILTER =
  'filter parent eb00: protocol ip pref 1 u32 chain 0 fh 800::800 order 2048 key ht 800 bkt 0 flowid eb00:4 not_in_hw\n  match 00002bcb/0000ffff at 20';
const NONE = 'qdisc noqueue 0: root refcnt 2';

function host(netemOk: boolean, qdiscs: string, filters = ''): FakeTransport {
  const rules: FakeRule[] = [
    {
      match: /^out=\$\(unshare -n/,
      result: netemOk
        ? { stdout: 'rc=0\n' }
        : { stdout: 'rc=2\nError: Specified qdisc kind is unknown.\n# CONFIG_NET_SCH_NETEM is not set\n' },
    },
    { match: /^tc qdisc show dev lo; echo/, result: { stdout: `${qdiscs}\n--\n${filters}\n` } },
  ];
  return new FakeTransport(rules);
}
const tcCalls = (h: FakeTransport) => h.log().filter((c) => /^tc (qdisc|filter) (add|del|change|replace)/.test(c));

describe('inject-latency input', () => {
  it('accepts memcached or a port, and netem delays with units', () => {
    expect(parsePort('memcached')).toBe(11211);
    expect(parsePort('5432')).toBe(5432);
    for (const bad of ['mysql', '0', '70000', '11211x', '']) expect(() => parsePort(bad)).toThrow(UserError);
    expect(() => parsePort(undefined)).toThrow(/--to is required/);
    expect(parseDelay('2ms')).toBe('2ms');
    expect(parseDelay('1.6ms')).toBe('1.6ms');
    expect(parseDelay('500us')).toBe('500us');
    for (const bad of ['2', '-1ms', '0ms', '11s', '2 ms', 'fast']) expect(() => parseDelay(bad)).toThrow(UserError);
  });

  it("tells the lab's root qdisc from none and from someone else's", () => {
    expect(rootQdisc(NONE)).toBe('none');
    expect(rootQdisc('')).toBe('none');
    expect(rootQdisc(OURS_QDISC)).toBe('ours');
    expect(rootQdisc('qdisc fq_codel 8001: root refcnt 2 limit 10240p')).toBe(
      'qdisc fq_codel 8001: root refcnt 2 limit 10240p',
    );
  });
});

describe('inject-latency against the fake transport', () => {
  it('adds exactly the prio qdisc, netem on band 4 and the dport filters, as root', async () => {
    const h = host(true, NONE);
    const msg = await injectLatency(h, 11211, '2ms');
    expect(msg).toMatch(/added 2ms of delay to packets towards 127\.0\.0\.1:11211/);
    expect(tcCalls(h)).toEqual([
      'tc qdisc add dev lo root handle eb00: prio bands 4 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1',
      'tc qdisc add dev lo parent eb00:4 handle eb04: netem delay 2ms',
      'tc filter add dev lo parent eb00: protocol ip prio 1 u32 match ip dport 11211 0xffff flowid eb00:4',
      'tc filter add dev lo parent eb00: protocol ipv6 prio 2 u32 match ip6 dport 11211 0xffff flowid eb00:4',
    ]);
    expect(h.calls.filter((c) => c.kind === 'exec').every((c) => c.kind === 'exec' && c.sudo)).toBe(true);
    // the netem test ran first, in a throwaway network namespace
    expect(h.log()[0]).toBe(NETEM_TEST);
  });

  it('replaces its own earlier delay (removed first) and says what it replaced', async () => {
    const h = host(true, OURS_QDISC, OURS_FILTER);
    const msg = await injectLatency(h, 5432, '1.6ms');
    expect(msg).toMatch(/replacing 2ms to port 11211/);
    expect(tcCalls(h)).toEqual([
      'tc qdisc del dev lo root handle eb00:',
      ...addCommands(5432, '1.6ms').map((a) => a.join(' ')),
    ]);
  });

  it("refuses, changing nothing, where netem is missing (exit 2 with the kernel's reason)", async () => {
    const h = host(false, NONE);
    const err = await injectLatency(h, 11211, '2ms').catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(
      /tc netem is not available on fake-host: Error: Specified qdisc kind is unknown.*nothing was changed/,
    );
    expect(err.hint).toMatch(/doctor/);
    expect(tcCalls(h)).toEqual([]);
    expect(h.log()).toEqual([NETEM_TEST]);
  });

  it('leaves a root qdisc it did not add alone', async () => {
    const h = host(true, 'qdisc fq_codel 8001: root refcnt 2');
    await expect(injectLatency(h, 11211, '2ms')).rejects.toThrow(/did not add \(qdisc fq_codel 8001:/);
    expect(tcCalls(h)).toEqual([]);
  });

  it('rolls back when a tc command fails half-way', async () => {
    const h = new FakeTransport([
      { match: /^out=\$\(unshare -n/, result: { stdout: 'rc=0\n' } },
      { match: /^tc qdisc show dev lo; echo/, result: { stdout: `${NONE}\n--\n\n` } },
      { match: /netem delay/, result: { exitCode: 2, stderr: 'Error: Specified qdisc kind is unknown.' } },
    ]);
    await expect(injectLatency(h, 11211, '2ms')).rejects.toThrow(/exit 2/);
    expect(tcCalls(h).at(-1)).toBe(CLEAR_COMMAND.join(' '));
  });

  it("--clear removes exactly the lab's qdisc, and nothing when there is none", async () => {
    const h = host(true, OURS_QDISC, OURS_FILTER);
    expect(await clearLatency(h)).toMatch(
      /removed the injected latency \(2ms to port 11211\).*tc qdisc del dev lo root handle eb00:/,
    );
    expect(tcCalls(h)).toEqual(['tc qdisc del dev lo root handle eb00:']);
    const none = host(true, NONE);
    expect(await clearLatency(none)).toBe('no injected latency on fake-host');
    expect(tcCalls(none)).toEqual([]);
    const foreign = host(true, 'qdisc fq_codel 8001: root refcnt 2');
    expect(await clearLatency(foreign)).toMatch(/^no injected latency/);
    expect(tcCalls(foreign)).toEqual([]);
  });
});
