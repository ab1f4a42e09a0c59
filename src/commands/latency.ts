import { UserError } from '../errors.js';
import { NETEM_TEST, parseNetem } from '../facts/doctor.js';
import type { ChosenTarget } from '../targets/index.js';
import { quoteArgv } from '../transports/quote.js';
import { withLab, type TargetInput } from './lab-target.js';
import { MEMCACHED_PORT } from '../lab/layout.js';
import type { Transport } from '../transports/transport.js';

/**
 * inject-latency — network delay on the lab host's loopback with tc, towards one TCP
 * port (memcached by default), like the migration case's +1.6 ms to a database:
 * a 4-band prio qdisc (handle eb00:, the default priomap only uses bands 1-3) on `lo`,
 * netem on band 4, and u32 filters sending packets TO the port into band 4. Only
 * requests are delayed (replies come FROM the port), so the round trip grows by the
 * delay. `--clear` removes exactly that qdisc (and its filters); `down` does too.
 */
export const ROOT_HANDLE = 'eb00:';
const NETEM_HANDLE = 'eb04:';

export const PORT_NAMES: Record<string, number> = { memcached: MEMCACHED_PORT };

export function parsePort(raw: string | undefined): number {
  if (raw === undefined)
    throw new UserError(
      '--to is required: memcached or a TCP port',
      'e.g. ebpf-lab inject-latency --to memcached --delay 2ms',
    );
  const n = PORT_NAMES[raw] ?? (/^\d+$/.test(raw) ? Number(raw) : NaN);
  if (!(n >= 1 && n <= 65535))
    throw new UserError(
      `--to must be memcached or a port from 1 to 65535, not "${raw}"`,
      'e.g. --to memcached (port 11211) or --to 6379',
    );
  return n;
}

/** `2ms`, `1.6ms`, `500us`, `1s` (at most 10 s) — netem's own units. */
export function parseDelay(raw: string | undefined): string {
  if (raw === undefined) throw new UserError('--delay is required', 'e.g. --delay 2ms (units: us, ms, s)');
  const m = /^(\d+(?:\.\d+)?)(us|ms|s)$/.exec(raw.trim());
  const us = m ? Number(m[1]) * { us: 1, ms: 1000, s: 1_000_000 }[m[2] as 'us' | 'ms' | 's'] : NaN;
  if (!(us > 0 && us <= 10_000_000))
    throw new UserError(
      `--delay must be a positive delay up to 10s with a unit (us, ms, s), not "${raw}"`,
      'e.g. --delay 1.6ms',
    );
  return `${m![1]}${m![2]}`;
}

/** The tc commands that add the delay, in order. */
export function addCommands(port: number, delay: string): string[][] {
  return [
    [
      'tc',
      'qdisc',
      'add',
      'dev',
      'lo',
      'root',
      'handle',
      ROOT_HANDLE,
      'prio',
      'bands',
      '4',
      'priomap',
      ...'1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1'.split(' '),
    ],
    ['tc', 'qdisc', 'add', 'dev', 'lo', 'parent', `${ROOT_HANDLE}4`, 'handle', NETEM_HANDLE, 'netem', 'delay', delay],
    [
      'tc',
      'filter',
      'add',
      'dev',
      'lo',
      'parent',
      ROOT_HANDLE,
      'protocol',
      'ip',
      'prio',
      '1',
      'u32',
      'match',
      'ip',
      'dport',
      String(port),
      '0xffff',
      'flowid',
      `${ROOT_HANDLE}4`,
    ],
    [
      'tc',
      'filter',
      'add',
      'dev',
      'lo',
      'parent',
      ROOT_HANDLE,
      'protocol',
      'ipv6',
      'prio',
      '2',
      'u32',
      'match',
      'ip6',
      'dport',
      String(port),
      '0xffff',
      'flowid',
      `${ROOT_HANDLE}4`,
    ],
  ];
}

/** Deleting the root qdisc removes its bands, the netem qdisc and the filters with it. */
export const CLEAR_COMMAND = ['tc', 'qdisc', 'del', 'dev', 'lo', 'root', 'handle', ROOT_HANDLE];

/** The root qdisc of lo: `ours`, `none` (noqueue or nothing) or another one (its description). */
export function rootQdisc(show: string): 'ours' | 'none' | string {
  const root = show.split('\n').find((l) => / root /.test(l + ' '));
  if (!root || /^qdisc noqueue /.test(root)) return 'none';
  if (new RegExp(`^qdisc prio ${ROOT_HANDLE} `).test(root)) return 'ours';
  return root.trim();
}

/** What the lab's delay on lo is now (`none`, or "2ms to port 11211"), from tc's own output. */
async function current(host: Transport): Promise<{ root: string; netem?: string }> {
  const r = await host.exec(
    { script: `tc qdisc show dev lo; echo '--'; tc filter show dev lo 2>/dev/null` },
    { sudo: true, nothrow: true },
  );
  const [qd = '', filters = ''] = r.stdout.split('\n--\n');
  const root = rootQdisc(qd);
  const delay = /qdisc netem eb04: .*delay (\S+)/.exec(qd)?.[1];
  // u32 prints a dport match as the 32-bit word at offset 20 (sport|dport): 0000PPPP/0000ffff.
  const port = /match 0000([0-9a-f]{4})\/0000ffff at 20/.exec(filters)?.[1];
  return { root, netem: root === 'ours' ? `${delay ?? '?'} to port ${port ? parseInt(port, 16) : '?'}` : undefined };
}

/** Removes the lab's qdisc when present; says what it did. Never touches another root qdisc. */
export async function clearLatency(host: Transport): Promise<string> {
  const now = await current(host);
  if (now.root !== 'ours') return `no injected latency on ${host.name}`;
  await host.exec(CLEAR_COMMAND, { sudo: true });
  return `removed the injected latency (${now.netem}) on ${host.name}: ${quoteArgv(CLEAR_COMMAND)}`;
}

/** Adds (or replaces) the lab's delay; refuses with nothing changed where netem is missing. */
export async function injectLatency(host: Transport, port: number, delay: string): Promise<string> {
  const test = parseNetem((await host.exec({ script: NETEM_TEST }, { sudo: true, nothrow: true })).stdout);
  if (!test.available)
    throw new UserError(
      `tc netem is not available on ${host.name}: ${test.reason}; nothing was changed`,
      'the kernel needs CONFIG_NET_SCH_NETEM and CONFIG_NET_SCH_PRIO (Ubuntu: linux-modules-extra-$(uname -r)); `ebpf-lab doctor` reports it',
    );
  const now = await current(host);
  if (now.root !== 'ours' && now.root !== 'none')
    throw new UserError(
      `lo on ${host.name} already has a root qdisc that ebpf-lab did not add (${now.root}); nothing was changed`,
      'remove it yourself (tc qdisc del dev lo root) if it is not needed',
    );
  if (now.root === 'ours') await host.exec(CLEAR_COMMAND, { sudo: true });
  try {
    for (const cmd of addCommands(port, delay)) await host.exec(cmd, { sudo: true });
  } catch (e) {
    await host.exec(CLEAR_COMMAND, { sudo: true, nothrow: true });
    throw e;
  }
  return `added ${delay} of delay to packets towards 127.0.0.1:${port} on lo of ${host.name}${now.netem ? ` (replacing ${now.netem})` : ''}; remove it with: ebpf-lab inject-latency --clear`;
}

export interface LatencyInput extends TargetInput {
  to?: string;
  delay?: string;
  clear?: boolean;
}

export async function latencyCommand(input: LatencyInput, write: (s: string) => void): Promise<number> {
  if (input.clear) {
    if (input.to !== undefined || input.delay !== undefined) throw new UserError('--clear takes no --to or --delay');
    return withLab(input, async (host) => (write(await clearLatency(host)), 0));
  }
  const port = parsePort(input.to);
  const delay = parseDelay(input.delay);
  return withLab(input, async (host) => (write(await injectLatency(host, port, delay)), 0));
}

/**
 * For `down`: a host ebpf-lab only forgets (ssh, local) must not keep the delay; a sandbox's
 * qdiscs live in its own network namespace and a Lightsail instance is deleted whole, so only
 * hosts that outlive `down` are cleared. Failures are reported, never fatal.
 */
export async function clearLatencyForDown(
  chosen: ChosenTarget,
  input: TargetInput,
  write: (s: string) => void,
): Promise<void> {
  if (chosen.target.downDestroysHost) return;
  try {
    const msg = await withLab(input, clearLatency);
    if (!msg.startsWith('no injected')) write(msg);
  } catch (e) {
    write(`could not check for injected latency on ${chosen.spec.label}: ${(e as Error).message.split('\n')[0]}`);
  }
}
