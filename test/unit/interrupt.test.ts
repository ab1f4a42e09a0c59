import { describe, expect, it } from 'vitest';
import { guardRun, InterruptedError, runsDpkg } from '../../src/runner/interrupt.js';
import { FakeTransport } from '../../src/transports/fake.js';
import type { RunEvent } from '../../src/runner/events.js';
import type { StepResult } from '../../src/runner/types.js';

const ended = (id: string, status: StepResult['status']): RunEvent => ({
  kind: 'step:end',
  result: { id, title: id, status, changes: [], notes: [], evidence: [], durationMs: 1 },
});

describe('Ctrl-C / SIGTERM during a run', () => {
  it('waits for an apt-get under way, refuses new commands, says the state, releases, exits 130', async () => {
    const inner = new FakeTransport();
    let finishApt!: () => void;
    inner.exec = ((cmd: string[]) =>
      cmd[0] === 'apt-get'
        ? new Promise((r) => (finishApt = () => r({ command: '', exitCode: 0, stdout: '', stderr: '', durationMs: 1 })))
        : Promise.resolve({ command: '', exitCode: 0, stdout: '', stderr: '', durationMs: 1 })) as never;
    const said: string[] = [];
    let code: number | undefined;
    let released = false;
    const guard = guardRun({
      emit: () => {},
      say: (l) => said.push(l),
      host: () => inner,
      exit: (c) => (code = c),
      mode: 'up',
    });
    try {
      const host = guard.wrap(inner);
      guard.holding(async () => void (released = true));
      guard.emit({ kind: 'run:start', host: 'h', mode: 'up', steps: ['preflight', 'packages', 'php', 'dtrace'] });
      guard.emit({ kind: 'step:start', id: 'preflight', title: '' });
      guard.emit(ended('preflight', 'unchanged'));
      guard.emit({ kind: 'step:start', id: 'packages', title: '' });
      guard.emit({ kind: 'step:phase', id: 'packages', phase: 'apply' });
      const apt = host.exec(['apt-get', 'install', '-y', 'jq']);
      process.emit('SIGINT');
      await new Promise((r) => setTimeout(r, 50));
      expect(code, 'still waiting for apt-get').toBeUndefined();
      await expect(host.exec(['systemctl', 'restart', 'apache2'])).rejects.toBeInstanceOf(InterruptedError);
      finishApt();
      await apt;
      await new Promise((r) => setTimeout(r, 50));
      expect(code).toBe(130);
      expect(released).toBe(true);
      expect(said).toEqual([
        'ebpf-lab: interrupted by SIGINT in step packages (applying its changes)',
        expect.stringMatching(
          /^ebpf-lab: apt-get\/dpkg is installing packages on fake-host: waiting for it to finish .*Ctrl-C again to stop waiting/,
        ),
        'ebpf-lab: apt-get finished on fake-host',
        'ebpf-lab: state of fake-host: finished: preflight (unchanged); interrupted: packages (its changes may be partly made); not started: php, dtrace',
        'ebpf-lab: run `ebpf-lab up` again to finish (`ebpf-lab plan` shows what is left)',
        'ebpf-lab: the host run lock was released',
      ]);
    } finally {
      guard.dispose();
    }
  });

  it('SIGTERM before any host was reached: nothing changed, exit 143', async () => {
    const said: string[] = [];
    let code: number | undefined;
    const guard = guardRun({ emit: () => {}, say: (l) => said.push(l), exit: (c) => (code = c), mode: 'up' });
    try {
      guard.stage('opening sandbox:x (creating or booting it)');
      process.emit('SIGTERM');
      await new Promise((r) => setTimeout(r, 20));
      expect(code).toBe(143);
      expect(said).toEqual([
        'ebpf-lab: interrupted by SIGTERM while opening sandbox:x (creating or booting it)',
        'ebpf-lab: no lab host was reached: nothing on it was changed',
      ]);
    } finally {
      guard.dispose();
    }
  });

  it('knows which commands run dpkg', () => {
    expect(runsDpkg("apt-get -o 'DPkg::Lock::Timeout=300' install -y jq")).toBe(true);
    expect(runsDpkg('dpkg --configure -a')).toBe(true);
    expect(runsDpkg('apt-get -o x update -q')).toBe(false);
    expect(runsDpkg('systemctl restart apache2')).toBe(false);
  });
});
