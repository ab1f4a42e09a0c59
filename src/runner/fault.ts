/**
 * Fault injection for the reliability tests (test/reliability/interrupt.test.ts).
 *
 * When the environment variable EBPF_LAB_FAULT is set, runSteps wraps its host and its
 * event sink once with {@link injectFaults}; nothing else in the engine knows about faults.
 * The fault fires at the named point of the run:
 *
 * - `step:<id>:before-apply`, `step:<id>:after-apply`: the runner reports the step's apply
 *   phase, or its recheck phase after apply;
 * - `unit:<unit>:before-restart`, `unit:<unit>:before-reload`: `systemctl restart <unit>` or
 *   `systemctl reload-or-restart <unit>` is about to be sent;
 * - `put:<path>:mid-upload`: half of the file has been sent (the upload is never finished);
 * - `apt:mid-install`: `apt-get install` runs: dpkg reports unpacking or setting up a
 *   package, or EBPF_LAB_FAULT_DELAY_MS (default 3000) after the command was sent.
 *
 * - EBPF_LAB_FAULT_MODE=kill (default): this process SIGKILLs itself, as a crash, an OOM
 *   kill or a closed laptop lid would: no cleanup, no lock release, no goodbye to sshd.
 * - EBPF_LAB_FAULT_MODE=cut: the host's connection is severed (its socket destroyed, as a
 *   dropped hotel wifi would), and the run goes on to find out: its next command fails.
 *
 * A fault fires once per process.
 */
import { PassThrough } from 'node:stream';
import { CommandError } from '../errors.js';
import { quote } from '../transports/quote.js';
import { putScript, tempPathFor } from '../transports/sudo.js';
import type { Command, ExecOptions, PutOptions, Transport } from '../transports/transport.js';
import type { Emit } from './events.js';

function wanted(name: string): boolean {
  return process.env['EBPF_LAB_FAULT'] === name;
}

/** `host` and `emit` of a run, wrapped so that the fault named by EBPF_LAB_FAULT fires. */
export function injectFaults(inner: Transport, emit: Emit): { host: Transport; emit: Emit } {
  /** Fires the armed fault now (kill or cut). */
  const fire = (name: string): void => {
    const mode = process.env['EBPF_LAB_FAULT_MODE'] ?? 'kill';
    delete process.env['EBPF_LAB_FAULT'];
    process.stderr.write(`ebpf-lab: fault injected at ${name} (${mode})\n`);
    if (mode === 'cut') inner.sever?.();
    else process.kill(process.pid, 'SIGKILL');
  };
  const at = (name: string): void => {
    if (wanted(name)) fire(name);
  };

  const host: Transport = {
    name: inner.name,
    get: (p) => inner.get(p),
    close: () => inner.close(),
    sever: () => inner.sever?.(),
    exec(cmd: Command, opts: ExecOptions = {}) {
      if (Array.isArray(cmd) && cmd[0] === 'systemctl') {
        const when = cmd[1] === 'restart' ? 'before-restart' : cmd[1] === 'reload-or-restart' ? 'before-reload' : '';
        if (when) for (const unit of cmd.slice(2)) at(`unit:${unit}:${when}`);
      }
      const name = 'apt:mid-install';
      if (!(Array.isArray(cmd) && cmd[0] === 'apt-get' && cmd.includes('install')) || !wanted(name))
        return inner.exec(cmd, opts);
      const once = () => wanted(name) && fire(name);
      const timer = setTimeout(once, Number(process.env['EBPF_LAB_FAULT_DELAY_MS'] ?? 3000));
      const onOutput: ExecOptions['onOutput'] = (chunk, stream) => {
        opts.onOutput?.(chunk, stream);
        if (/^(Unpacking|Setting up) /m.test(chunk)) once();
      };
      return inner.exec(cmd, { ...opts, onOutput }).finally(() => clearTimeout(timer));
    },
    async put(path: string, content: string | Buffer, opts: PutOptions = {}) {
      const name = `put:${path}:mid-upload`;
      if (!wanted(name)) return inner.put(path, content, opts);
      // The transport's own put script, fed the first half of the content; 300 ms later
      // (time for it to reach the host) the fault fires, and the upload never ends.
      const buf = Buffer.from(content);
      const input = new PassThrough();
      input.write(buf.subarray(0, Math.max(1, Math.floor(buf.length / 2))));
      setTimeout(() => fire(name), 300);
      const r = await inner.exec(
        { script: putScript(path, opts, tempPathFor(path), buf.length) },
        { sudo: true, input, nothrow: true },
      );
      if (r.exitCode !== 0) throw new CommandError({ ...r, command: `put ${quote(path)}` }, inner.name);
    },
  };

  const faultyEmit: Emit = (e) => {
    if (e.kind === 'step:phase' && e.phase === 'recheck') at(`step:${e.id}:after-apply`);
    emit(e);
    if (e.kind === 'step:phase' && e.phase === 'apply') at(`step:${e.id}:before-apply`);
  };
  return { host, emit: faultyEmit };
}
