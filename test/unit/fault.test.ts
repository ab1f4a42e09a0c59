import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { injectFaults } from '../../src/runner/fault.js';
import { runSteps } from '../../src/runner/run.js';
import { FakeTransport, type FakeRule } from '../../src/transports/fake.js';
import { DEFAULT_OPTIONS } from '../../src/options.js';
import type { RunEvent } from '../../src/runner/events.js';
import type { StepContext } from '../../src/runner/types.js';
import type { Command, ExecOptions } from '../../src/transports/transport.js';

/** A fake host that can be severed: counts severs, and fails every command after one. */
class SeverableHost extends FakeTransport {
  severed = 0;
  constructor(rules: FakeRule[] = []) {
    super([...rules, { match: /^false$/, result: { exitCode: 255, stderr: 'connection lost' } }]);
  }
  sever(): void {
    this.severed++;
  }
  override exec(cmd: Command, opts: ExecOptions = {}) {
    if (this.severed) return super.exec(['false'], { ...opts, nothrow: false });
    return super.exec(cmd, opts);
  }
}

function faultEnv(point: string, mode: 'kill' | 'cut'): void {
  vi.stubEnv('EBPF_LAB_FAULT', point);
  vi.stubEnv('EBPF_LAB_FAULT_MODE', mode);
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
}

afterEach(() => vi.unstubAllEnvs());

describe('fault injection wraps the run, once', () => {
  it('cut at a step boundary severs the host: that step fails, later ones are not run', async () => {
    faultEnv('step:a:after-apply', 'cut');
    const host = new SeverableHost();
    const events: RunEvent[] = [];
    const applied = new Set<string>();
    const step = (id: string) => ({
      id,
      title: id,
      async check(ctx: StepContext) {
        await ctx.host.exec(['check', id]);
        return {
          changes: applied.has(id) ? [] : [{ kind: 'file', path: `/x/${id}`, action: 'create' } as const],
          notes: [],
        };
      },
      async apply(ctx: StepContext) {
        await ctx.host.exec(['apply', id]);
        applied.add(id);
      },
    });
    const results = await runSteps({
      host,
      steps: [step('a'), step('b')],
      options: DEFAULT_OPTIONS,
      mode: 'up',
      emit: (e) => events.push(e),
    });
    expect(host.severed).toBe(1);
    expect(results.map((r) => r.status)).toEqual(['failed', 'skipped']);
    // The apply itself went through (the fault fired after it), the recheck did not reach the host.
    expect(host.log()).toEqual(['check a', 'apply a', 'false']);
    expect(results[0]!.error).toMatch(/false/);
    expect(process.env['EBPF_LAB_FAULT']).toBeUndefined();
  });

  it('kill before a restart SIGKILLs this process before the command is sent, and only for that unit', async () => {
    faultEnv('unit:apache2.service:before-restart', 'kill');
    const kill = vi.spyOn(process, 'kill').mockImplementation(() => true);
    const inner = new FakeTransport();
    const { host } = injectFaults(inner, () => {});
    await host.exec(['systemctl', 'restart', 'php8.2-fpm.service']);
    expect(kill).not.toHaveBeenCalled();
    await host.exec(['systemctl', 'restart', 'apache2.service']);
    expect(kill).toHaveBeenCalledWith(process.pid, 'SIGKILL');
    await host.exec(['systemctl', 'restart', 'apache2.service']);
    expect(kill).toHaveBeenCalledTimes(1);
  });

  it('before-apply fires after the apply phase is reported, before apply runs', async () => {
    faultEnv('step:php:before-apply', 'cut');
    const inner = new SeverableHost();
    const seen: string[] = [];
    const { emit } = injectFaults(inner, (e) => seen.push(`${e.kind}:${'phase' in e ? e.phase : ''}:${inner.severed}`));
    emit({ kind: 'step:phase', id: 'php', phase: 'check' });
    emit({ kind: 'step:phase', id: 'php', phase: 'apply' });
    expect(seen).toEqual(['step:phase:check:0', 'step:phase:apply:0']);
    expect(inner.severed).toBe(1);
  });

  it('mid-upload sends half of the file through the put script, never ends it, then fires', async () => {
    faultEnv('put:/etc/x.conf:mid-upload', 'cut');
    let received = '';
    let ended = false;
    const inner = new SeverableHost();
    inner.exec = async (cmd: Command, opts: ExecOptions = {}) => {
      const input = opts.input as Readable;
      input.on('data', (b: Buffer) => (received += b.toString()));
      input.on('end', () => (ended = true));
      // The host answers when the connection goes: like a lost ssh channel.
      await vi.waitFor(() => expect(inner.severed).toBe(1), { timeout: 2000 });
      return {
        command: Array.isArray(cmd) ? cmd.join(' ') : cmd.script,
        exitCode: 255,
        stdout: '',
        stderr: 'lost',
        durationMs: 0,
      };
    };
    const { host } = injectFaults(inner, () => {});
    await expect(host.put('/etc/x.conf', '0123456789', { mode: 0o644 })).rejects.toThrow(/put \/etc\/x\.conf/);
    expect(received).toBe('01234');
    expect(ended).toBe(false);
    // Other paths upload as usual.
    vi.stubEnv('EBPF_LAB_FAULT', 'put:/etc/x.conf:mid-upload');
    const plain = new FakeTransport();
    await injectFaults(plain, () => {}).host.put('/etc/y.conf', 'abc');
    expect(plain.files.get('/etc/y.conf')?.content).toBe('abc');
  });

  it('apt:mid-install fires while apt-get install reports unpacking', async () => {
    faultEnv('apt:mid-install', 'cut');
    const inner = new SeverableHost([
      { match: /apt-get .*install/, effect: () => {}, result: { stdout: 'Unpacking jq (1.6)\n' } },
    ]);
    const real = inner.exec.bind(inner);
    inner.exec = async (cmd, opts = {}) => {
      const r = await real(cmd, opts);
      opts.onOutput?.(r.stdout, 'stdout');
      return r;
    };
    const { host } = injectFaults(inner, () => {});
    await host.exec(['apt-get', 'update']);
    expect(inner.severed).toBe(0);
    await host.exec(['apt-get', '-o', 'X=1', 'install', '-y', 'jq']);
    expect(inner.severed).toBe(1);
  });
});
