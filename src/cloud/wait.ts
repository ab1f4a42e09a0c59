import { Socket } from 'node:net';
import { StartInstanceCommand, type LightsailClient } from '@aws-sdk/client-lightsail';
import { UserError } from '../errors.js';
import { call, type CloudOptions } from './api.js';
import { getInstance, type LabInstance } from './lightsail.js';
import { realSleep } from './pool.js';

/** A bounded wait ran out; `lastSeen` says what was observed last. Exit 1 (not the user's input). */
export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError';
  constructor(
    message: string,
    readonly lastSeen: string,
  ) {
    super(message);
  }
}

/** Options for {@link waitForInstance}. */
export interface WaitInstanceOptions extends CloudOptions {
  /** Total budget (default 5 minutes, what peers use for Lightsail boots). */
  timeoutMs?: number;
  /** Poll interval (default 5 s). */
  intervalMs?: number;
  /** Start a stopped instance (default true): an adopted lab may have been stopped to save money. */
  startIfStopped?: boolean;
  /** Told about each state change, for progress display. */
  onState?: (state: string) => void;
}

const TERMINAL = new Set(['shutting-down', 'terminated']);

/**
 * Poll GetInstance until the instance is `running` AND has a public IPv4 address (Lightsail
 * can report running before the address is assigned). Waits through pending/starting and
 * through NotFound right after a create (reads are eventually consistent). A `stopping`
 * instance is waited out; a `stopped` one is started once (unless `startIfStopped: false`,
 * then UserError). Timeout → WaitTimeoutError naming the last state seen.
 */
export async function waitForInstance(
  client: LightsailClient,
  name: string,
  opts: WaitInstanceOptions = {},
): Promise<LabInstance & { publicIp: string }> {
  const { timeoutMs = 300_000, intervalMs = 5_000, sleep = realSleep, now = Date.now, startIfStopped = true } = opts;
  const deadline = now() + timeoutMs;
  let last = 'not visible yet';
  let started = false;
  for (;;) {
    const inst = await getInstance(client, name, opts);
    const seen = inst
      ? inst.state === 'running' && !inst.publicIp
        ? 'running without a public IP yet'
        : inst.state
      : 'not visible yet';
    if (seen !== last) opts.onState?.(seen);
    last = seen;
    if (inst?.state === 'running' && inst.publicIp) return inst as LabInstance & { publicIp: string };
    if (inst && TERMINAL.has(inst.state)) throw new Error(`Instance ${name} is ${inst.state}; it cannot become a lab`);
    if (inst?.state === 'stopped' && !started) {
      if (!startIfStopped)
        throw new UserError(
          `Instance ${name} is stopped`,
          'Start it in the Lightsail console or re-run without disabling auto-start.',
        );
      await call(
        () => client.send(new StartInstanceCommand({ instanceName: name })),
        { action: `start instance ${name}` },
        opts,
      );
      started = true;
    }
    if (now() + intervalMs > deadline) {
      throw new WaitTimeoutError(
        `Instance ${name} was not running with a public IP after ${Math.round(timeoutMs / 1000)} s (last state: ${last})`,
        last,
      );
    }
    await sleep(intervalMs);
  }
}

/** Try one TCP connection; resolve on connect, reject with the socket error or a timeout. */
export type ConnectFn = (host: string, port: number, timeoutMs: number) => Promise<void>;

/** Default {@link ConnectFn}: a plain TCP connect, closed right away. */
export const tcpConnect: ConnectFn = (host, port, timeoutMs) =>
  new Promise((resolve, reject) => {
    const sock = new Socket();
    const done = (err?: Error): void => {
      sock.destroy();
      if (err) reject(err);
      else resolve();
    };
    sock.setTimeout(timeoutMs, () =>
      done(Object.assign(new Error(`connect timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
    );
    sock.once('error', done);
    sock.connect(port, host, () => done());
  });

/**
 * Wait until `host:port` accepts a TCP connection (a cheap probe before the SSH handshake;
 * sshd starts a while after the instance reports running). Returns the attempts used.
 * Timeout → WaitTimeoutError with the last connection error.
 */
export async function waitForPort(
  host: string,
  port: number,
  opts: {
    timeoutMs?: number;
    intervalMs?: number;
    attemptTimeoutMs?: number;
    connect?: ConnectFn;
    sleep?: CloudOptions['sleep'];
    now?: () => number;
  } = {},
): Promise<number> {
  const {
    timeoutMs = 180_000,
    intervalMs = 2_000,
    attemptTimeoutMs = 5_000,
    connect = tcpConnect,
    sleep = realSleep,
    now = Date.now,
  } = opts;
  const deadline = now() + timeoutMs;
  let lastError = 'no attempt';
  for (let attempt = 1; ; attempt++) {
    try {
      await connect(host, port, attemptTimeoutMs);
      return attempt;
    } catch (err) {
      const e = err as Error & { code?: string };
      lastError = e.code ?? e.message;
    }
    if (now() + intervalMs > deadline) {
      throw new WaitTimeoutError(
        `${host}:${port} did not accept connections within ${Math.round(timeoutMs / 1000)} s (last error: ${lastError})`,
        lastError,
      );
    }
    await sleep(intervalMs);
  }
}
