import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileChanges, fileProbe, sha256 } from '../../src/resources/files.js';
import { desiredProbes } from '../../src/resources/desired.js';
import type { Probe } from '../../src/resources/probe.js';
import type { FileState } from '../../src/resources/files.js';

// The probe's own sh script, run here with sh on real files: what the host would answer.
const dir = mkdtempSync(join(tmpdir(), 'ebpf-lab-file-probe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(p: Probe<FileState>): { state: FileState; stdout: string } {
  const r = spawnSync('sh', ['-c', p.script], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  // As readScripts hands it over: the last newline dropped.
  return { state: p.parse(r.stdout.replace(/\n$/, ''), r.status ?? 0), stdout: r.stdout };
}

describe('fileProbe: the sha256 decides whether the content is read', () => {
  const wanted = 'wanted content\n';
  const path = join(dir, 'with space.conf');

  it('a file as wanted: mode, owner and sha256, and none of its content', () => {
    writeFileSync(path, wanted, { mode: 0o644 });
    const { state, stdout } = run(fileProbe(path, true, sha256(wanted)));
    expect(state).toMatchObject({ exists: true, sha256: sha256(wanted), mode: 0o644, content: undefined });
    expect(stdout).not.toContain(Buffer.from(wanted).toString('base64'));
    expect(fileChanges({ path, content: wanted }, { ...state, owner: 'root', group: 'root' })).toEqual([]);
  });

  it('a file that differs: its content comes along, for the diff of the update', () => {
    writeFileSync(path, 'edited by hand\n');
    const { state } = run(fileProbe(path, true, sha256(wanted)));
    expect(state.sha256).toBe(sha256('edited by hand\n'));
    expect(state.content).toBe('edited by hand\n');
    const [c] = fileChanges({ path, content: wanted }, state);
    expect(c).toMatchObject({ action: 'update' });
    expect(c!.detail).toContain('-edited by hand');
    expect(c!.detail).toContain('+wanted content');
  });

  it('without a wanted sha256 the content always comes (as before); a secret never does', () => {
    writeFileSync(path, wanted);
    expect(run(fileProbe(path, true)).state.content).toBe(wanted);
    writeFileSync(path, 'other\n');
    expect(run(fileProbe(path, false, sha256(wanted))).state).toMatchObject({
      sha256: sha256('other\n'),
      content: undefined,
    });
  });

  it('an absent file is absent', () => {
    expect(run(fileProbe(join(dir, 'nope'), true, sha256(wanted))).state).toEqual({ exists: false });
  });

  it("desiredProbes gives each file's probe the sha256 of its wanted content", () => {
    const probes = desiredProbes({ files: [{ path: '/etc/x.conf', content: wanted }] });
    expect(probes['file0']!.script).toContain(`[ "$h" = ${sha256(wanted)} ]`);
  });
});
