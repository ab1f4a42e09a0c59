import { hostname, userInfo } from 'node:os';
import { UserError } from '../errors.js';
import { quote } from '../transports/quote.js';
import { RUN_LOCK, STATE_DIR } from '../lab/layout.js';
import { hostScript } from '../render/script.js';
import type { Transport } from '../transports/transport.js';

/**
 * One run at a time per host. The lock is a directory on the host (mkdir is atomic),
 * kept fresh by a heartbeat while the run lasts; a run that crashed or lost its
 * connection stops the heartbeat, so its lock goes stale after STALE_S and the next run
 * takes it over. A second run waits for a live first one, then refuses after waitMs.
 */
const LOCK_DIR = RUN_LOCK;
const STALE_S = 60;
const HEARTBEAT_MS = 15_000;

export interface HostLock {
  release(): Promise<void>;
}

const acquireScript = (owner: string) =>
  hostScript('run-lock', { LOCK: LOCK_DIR, OWNER: quote(owner), STALE_S, STATE_DIR });

export async function acquireHostLock(
  host: Transport,
  opts: { waitMs?: number; note?: (l: string) => void; sleep?: (ms: number) => Promise<void> } = {},
): Promise<HostLock> {
  const owner = `${userInfo().username}@${hostname()} pid ${process.pid} since ${new Date().toISOString()}`;
  const sleep = opts.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  const deadline = Date.now() + (opts.waitMs ?? 300_000);
  let told = false;
  for (;;) {
    const r = await host.exec({ script: acquireScript(owner) }, { sudo: true });
    const out = r.stdout.trim();
    if (out === 'acquired' || out.startsWith('taken-over')) {
      if (out.startsWith('taken-over')) opts.note?.(`took over a stale run lock (${out.slice(11)})`);
      break;
    }
    const holder = out.replace(/^held \d+ /, '');
    if (Date.now() > deadline)
      throw new UserError(
        `another ebpf-lab run is working on ${host.name}: ${holder}`,
        "wait for it to finish and run again (a crashed run's lock expires after a minute)",
      );
    if (!told) opts.note?.(`waiting for another ebpf-lab run on ${host.name} (${holder})`);
    told = true;
    await sleep(2000);
  }
  const beat = setInterval(
    () => void host.exec(['touch', LOCK_DIR], { sudo: true, nothrow: true }).catch(() => {}),
    HEARTBEAT_MS,
  );
  beat.unref();
  return {
    async release() {
      clearInterval(beat);
      await host.exec(['rm', '-rf', LOCK_DIR], { sudo: true, nothrow: true }).catch(() => {});
    },
  };
}
