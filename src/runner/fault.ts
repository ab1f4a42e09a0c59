/**
 * Fault injection for the reliability tests (test/reliability/interrupt.test.ts).
 *
 * The engine calls {@link faultPoint} at named points of a run (`step:php:before-apply`,
 * `unit:apache2.service:before-restart`, `put:/etc/x:mid-upload`, `apt:mid-install`…).
 * When the environment variable EBPF_LAB_FAULT equals the point's name, the fault fires:
 *
 * - EBPF_LAB_FAULT_MODE=kill (default): this process SIGKILLs itself, as a crash, an OOM
 *   kill or a closed laptop lid would: no cleanup, no lock release, no goodbye to sshd.
 * - EBPF_LAB_FAULT_MODE=cut: every open ssh connection's socket is destroyed (as a dropped
 *   hotel wifi would), and the run goes on to find out: its next command fails.
 *
 * Unset, every hook is a string comparison against `undefined`: nothing else happens.
 * A fault fires once per process.
 */
import type { Command, ExecOptions, Transport } from '../transports/transport.js';
import type { StepContext } from './types.js';

const cutters = new Set<() => void>();
let uploadArmed: string | undefined;

function wanted(name: string): boolean {
  return process.env['EBPF_LAB_FAULT'] === name;
}

/** Fires the armed fault now (kill or cut). */
function fire(name: string): void {
  const mode = process.env['EBPF_LAB_FAULT_MODE'] ?? 'kill';
  delete process.env['EBPF_LAB_FAULT'];
  process.stderr.write(`ebpf-lab: fault injected at ${name} (${mode})\n`);
  if (mode === 'cut') {
    for (const cut of cutters) cut();
    return;
  }
  process.kill(process.pid, 'SIGKILL');
}

/** A named point of a run: fires the fault when EBPF_LAB_FAULT names it. */
export function faultPoint(name: string): void {
  if (wanted(name)) fire(name);
}

/**
 * Registers how to cut a connection abruptly (the ssh transport destroys its socket).
 * Returns an unregister function. A no-op without EBPF_LAB_FAULT.
 */
export function onFaultCut(cut: () => void): () => void {
  if (process.env['EBPF_LAB_FAULT'] === undefined) return () => {};
  cutters.add(cut);
  return () => cutters.delete(cut);
}

/**
 * Called by put() before it sends a file: when EBPF_LAB_FAULT is `put:<path>:mid-upload`,
 * the next stdin sent by the ssh transport ({@link endInput}) stops half way and the fault fires.
 */
export function armUploadFault(path: string): void {
  const name = `put:${path}:mid-upload`;
  if (wanted(name)) uploadArmed = name;
}

/**
 * Sends a command's stdin and ends it; with an armed upload fault, sends only the first
 * half, gives it 300 ms to reach the host, then fires (the stream is never ended).
 */
export function endInput(
  stream: { write(b: Buffer): unknown; end(b?: string | Buffer): unknown },
  input: string | Buffer,
): void {
  const name = uploadArmed;
  if (name === undefined) {
    stream.end(input);
    return;
  }
  uploadArmed = undefined;
  const buf = Buffer.from(input);
  stream.write(buf.subarray(0, Math.max(1, Math.floor(buf.length / 2))));
  setTimeout(() => fire(name), 300);
}

/** Does this command run dpkg through `apt-get install`? */
function isAptInstall(cmd: Command): boolean {
  return Array.isArray(cmd) && cmd[0] === 'apt-get' && cmd.includes('install');
}

/**
 * `apt:mid-install`: a context whose host fires the fault while `apt-get install` runs on
 * it: as soon as dpkg reports unpacking or setting up a package, or at the latest
 * EBPF_LAB_FAULT_DELAY_MS (default 3000) after the command was sent.
 * Without the fault armed, returns `ctx` itself.
 */
export function aptFault(ctx: StepContext): StepContext {
  const name = 'apt:mid-install';
  if (!wanted(name)) return ctx;
  const inner = ctx.host;
  const host: Transport = {
    name: inner.name,
    put: (p, c, o) => inner.put(p, c, o),
    get: (p) => inner.get(p),
    close: () => inner.close(),
    exec(cmd: Command, opts: ExecOptions = {}) {
      if (!isAptInstall(cmd) || !wanted(name)) return inner.exec(cmd, opts);
      const once = () => wanted(name) && fire(name);
      const timer = setTimeout(once, Number(process.env['EBPF_LAB_FAULT_DELAY_MS'] ?? 3000));
      const onOutput: ExecOptions['onOutput'] = (chunk, stream) => {
        opts.onOutput?.(chunk, stream);
        if (/^(Unpacking|Setting up) /m.test(chunk)) once();
      };
      return inner.exec(cmd, { ...opts, onOutput }).finally(() => clearTimeout(timer));
    },
  };
  return { ...ctx, host };
}
