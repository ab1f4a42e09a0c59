import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { cli, ROOT } from '../support/cli.js';
import { LAB_NAME, SKIP } from '../support/fault.js';

/**
 * One sandbox lab for every reliability file: provisioned once here (about 90 s from a
 * warm cache plus the first `up`), handed to the files through `inject('lab')`, and
 * destroyed at the end. Each file leaves the lab converged for the next one.
 */
let home = '';
let keep: string | undefined;

export async function setup(project: TestProject) {
  // The tests import the step modules from source; the CLI they drive must be built from the same.
  // scripts/test.sh has built it already (and other suites run the CLI meanwhile: no rewrite under them).
  if (!process.env['EBPF_LAB_BUILT'])
    try {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
    } catch (e) {
      // tsc still emits on type errors; only a missing CLI stops the suite.
      if (!existsSync(join(ROOT, 'dist', 'src', 'main.js'))) throw e;
    }
  // EBPF_LAB_REL_KEEP=DIR (for working on these tests): reuse the lab kept in DIR, keep it after.
  keep = process.env['EBPF_LAB_REL_KEEP'];
  home = keep ?? mkdtempSync(join(tmpdir(), 'ebpf-lab-rel-'));
  mkdirSync(home, { recursive: true });
  const r = await cli(['up', '--target', `sandbox:${LAB_NAME}`, '--skip', SKIP, '--output', 'json'], {
    EBPF_LAB_HOME: home,
  });
  if (r.code !== 0)
    throw new Error(`reliability lab: up failed (exit ${r.code})\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
  const sb = JSON.parse(readFileSync(join(home, 'sandboxes', LAB_NAME, 'sandbox.json'), 'utf8'));
  project.provide('lab', { home, port: sb.port as number, key: join(home, 'sandboxes', LAB_NAME, 'id_ed25519') });
}

export async function teardown() {
  if (!home || keep) return;
  await cli(['down', '--target', `sandbox:${LAB_NAME}`], { EBPF_LAB_HOME: home });
  rmSync(home, { recursive: true, force: true });
}

declare module 'vitest' {
  export interface ProvidedContext {
    lab: { home: string; port: number; key: string };
  }
}
