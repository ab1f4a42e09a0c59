/**
 * Ctrl-C (SIGINT) and SIGTERM during a run. The first signal stops the run from starting
 * anything new on the host, lets an apt-get/dpkg that is under way finish (a second signal
 * stops waiting, and says dpkg was still running), then says what was interrupted and what
 * state the host is in, releases the host's run lock and exits 130 (SIGINT) or 143 (SIGTERM).
 */
import { displayCommand } from '../transports/sudo.js';
import type { Transport } from '../transports/transport.js';
import type { Emit, RunEvent } from './events.js';

export class InterruptedError extends Error {
  override name = 'InterruptedError';
}

type Sig = 'SIGINT' | 'SIGTERM';
const EXIT: Record<Sig, number> = { SIGINT: 130, SIGTERM: 143 };

/** A command that runs dpkg (apt-get install/remove…, dpkg itself). */
export const runsDpkg = (command: string) =>
  /^(apt-get|apt|dpkg)\b/.test(command) && !/\b(update|download|policy)\b/.test(command);

export interface RunGuard {
  /** The transport the steps use: after a signal, nothing new starts (InterruptedError). */
  wrap(t: Transport): Transport;
  /** The renderer, watched (current step and phase) and muted after a signal. */
  emit: Emit;
  /** Sets what the run is doing outside the steps ("opening sandbox:x", "waiting for the run lock"). */
  stage(what: string): void;
  /** The run lock and connection to release on a signal. */
  holding(release: () => Promise<void>): void;
  /** Removes the signal handlers (the run ended by itself). */
  dispose(): void;
}

export function guardRun(o: {
  emit: Emit;
  /** Lines to the user (stderr). */
  say: (line: string) => void;
  /** Read-only look at the host: is dpkg running? (the real transport, not the guarded one). */
  host?: () => Transport | undefined;
  exit?: (code: number) => void;
  mode: string;
}): RunGuard {
  let signal: Sig | undefined;
  let stage = 'starting';
  let current: { id: string; phase: string } | undefined;
  const finished: string[] = [];
  let planned: string[] = [];
  let release: (() => Promise<void>) | undefined;
  const inFlight = new Map<number, { what: string; done: Promise<unknown> }>();
  let seq = 0;
  let again: (() => void) | undefined;

  const emit: Emit = (e: RunEvent) => {
    if (signal) return;
    if (e.kind === 'run:start') planned = e.steps;
    if (e.kind === 'step:start') current = { id: e.id, phase: 'check' };
    if (e.kind === 'step:phase' && current) current.phase = e.phase;
    if (e.kind === 'step:end') {
      finished.push(`${e.result.id} (${e.result.status})`);
      current = undefined;
    }
    o.emit(e);
  };

  const wrap = (inner: Transport): Transport => {
    const track = <T>(what: string, p: Promise<T>): Promise<T> => {
      const id = seq++;
      inFlight.set(id, { what, done: p });
      const drop = () => inFlight.delete(id);
      p.then(drop, drop);
      return p;
    };
    const refuse = () => Promise.reject(new InterruptedError(`interrupted (${signal}): not started`));
    return {
      name: inner.name,
      exec: (cmd, opts) => (signal ? refuse() : track(displayCommand(cmd), inner.exec(cmd, opts))),
      put: (p, c, opts) => (signal ? refuse() : track(`put ${p}`, inner.put(p, c, opts))),
      get: (p) => (signal ? refuse() : inner.get(p)),
      close: () => inner.close(),
      sever: () => inner.sever?.(),
    };
  };

  async function onSignal(sig: Sig): Promise<void> {
    if (signal) {
      again?.();
      return;
    }
    signal = sig;
    const key = sig === 'SIGINT' ? 'Ctrl-C' : 'SIGTERM';
    const where = current
      ? `step ${current.id} (${current.phase === 'apply' ? 'applying its changes' : current.phase})`
      : stage;
    o.say(`ebpf-lab: interrupted by ${sig} ${current ? 'in' : 'while'} ${where}`);
    const host = o.host?.();
    const dpkg = [...inFlight.values()].filter((c) => runsDpkg(c.what));
    if (dpkg.length && host) {
      o.say(
        `ebpf-lab: apt-get/dpkg is installing packages on ${host.name}: waiting for it to finish so dpkg is not left half-done (${key} again to stop waiting)`,
      );
      const stopped = new Promise<'stopped'>((r) => (again = () => r('stopped')));
      const how = await Promise.race([
        Promise.allSettled(dpkg.map((c) => c.done)).then(() => 'done' as const),
        stopped,
      ]);
      if (how === 'done') o.say(`ebpf-lab: apt-get finished on ${host.name}`);
      else {
        const pids = await host
          .exec({ script: 'pgrep -x dpkg | tr "\\n" " "' }, { sudo: true, nothrow: true, timeoutMs: 10_000 })
          .then((r) => r.stdout.trim())
          .catch(() => '');
        o.say(
          pids
            ? `ebpf-lab: dpkg is still running on ${host.name} (pid ${pids}); ebpf-lab no longer watches it. The next \`ebpf-lab up\` waits for it and repairs dpkg if it was cut (dpkg --configure -a)`
            : `ebpf-lab: stopped waiting for apt-get on ${host.name}; the next \`ebpf-lab up\` repairs dpkg if it was cut (dpkg --configure -a)`,
        );
      }
    }
    const rest = planned.filter((id) => id !== current?.id && !finished.some((f) => f.startsWith(`${id} `)));
    if (host && planned.length) {
      o.say(
        `ebpf-lab: state of ${host.name}: ` +
          [
            finished.length ? `finished: ${finished.join(', ')}` : 'no step finished',
            current
              ? `interrupted: ${current.id}${current.phase === 'apply' ? ' (its changes may be partly made)' : ''}`
              : '',
            rest.length ? `not started: ${rest.join(', ')}` : '',
          ]
            .filter(Boolean)
            .join('; '),
      );
      if (o.mode === 'up') o.say('ebpf-lab: run `ebpf-lab up` again to finish (`ebpf-lab plan` shows what is left)');
    } else if (!host) o.say('ebpf-lab: no lab host was reached: nothing on it was changed');
    if (release) {
      await Promise.race([release(), new Promise((r) => setTimeout(r, 10_000).unref())]).catch(() => {});
      o.say('ebpf-lab: the host run lock was released');
    }
    (o.exit ?? ((c: number) => process.exit(c)))(EXIT[sig]);
  }

  const handlers: Record<Sig, () => void> = {
    SIGINT: () => void onSignal('SIGINT'),
    SIGTERM: () => void onSignal('SIGTERM'),
  };
  process.on('SIGINT', handlers.SIGINT);
  process.on('SIGTERM', handlers.SIGTERM);
  return {
    emit,
    wrap,
    stage: (what) => (stage = what),
    holding: (r) => (release = r),
    dispose() {
      process.off('SIGINT', handlers.SIGINT);
      process.off('SIGTERM', handlers.SIGTERM);
    },
  };
}
