/**
 * Helpers of the reliability tests (test/reliability): the one shared sandbox lab, shell
 * on it, CLI runs against it, and the lab's desired state derived from the step modules
 * themselves (never a hand-kept list).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { cli, cliChild, type CliResult } from './cli.js';
import { fakeContext } from './fake-host.js';
import { hostFactsProbe, type HostFacts } from '../../src/facts/host.js';
import { STEPS } from '../../steps/index.js';
import type { LabOptions } from '../../src/options.js';

export const LAB_NAME = 'rel';
export const TARGET = `sandbox:${LAB_NAME}`;
/** No internet here: the exporter's release and Grafana's key cannot be fetched. */
export const SKIP = 'ebpf-exporter,grafana';

export interface Lab {
  home: string;
  port: number;
  key: string;
  env: Record<string, string>;
  /** ssh argv up to (and without) the remote command. */
  sshBase: string[];
}

/** The lab provisioned by global-setup.ts. */
export function useLab(): Lab {
  const { home, port, key } = inject('lab');
  // The tests' own ssh pins the sandbox's host keys in a file of their own: tests tamper
  // with the CLI's known_hosts on purpose.
  const kh = join(home, 'test_known_hosts');
  const keys: string[] = JSON.parse(readFileSync(join(home, 'sandboxes', LAB_NAME, 'sandbox.json'), 'utf8')).hostKeys;
  writeFileSync(kh, keys.map((k) => `[127.0.0.1]:${port} ${k}\n`).join(''));
  const sshBase = [
    '-i',
    key,
    '-p',
    String(port),
    '-o',
    `UserKnownHostsFile=${kh}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    'root@127.0.0.1',
  ];
  return { home, port, key, env: { EBPF_LAB_HOME: home }, sshBase };
}

/** Runs a shell script on the lab as root; throws on a non-zero exit. */
export function onHost(lab: Lab, script: string): string {
  return execFileSync('ssh', [...lab.sshBase, script], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

/** Same, returning the exit code instead of throwing. */
export function onHostRc(lab: Lab, script: string): { code: number; out: string } {
  const r = spawnSync('ssh', [...lab.sshBase, script], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status ?? 255, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

/** `ebpf-lab <mode> --target sandbox:rel --skip ebpf-exporter,grafana --output json …`. */
export function labRun(
  lab: Lab,
  mode: 'up' | 'plan' | 'verify',
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<CliResult> {
  return cli([mode, '--target', TARGET, '--skip', SKIP, '--output', 'json', ...args], { ...lab.env, ...env });
}

/** {@link labRun} with the child process at hand (to pause, signal or kill it). */
export function labChild(
  lab: Lab,
  mode: 'up' | 'plan' | 'verify',
  args: string[] = [],
  env: Record<string, string> = {},
) {
  return cliChild([mode, '--target', TARGET, '--skip', SKIP, '--output', 'json', ...args], { ...lab.env, ...env });
}

/** Polls `cond` every 200 ms until it is true or `ms` pass; returns whether it became true. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 200)))
    if (await cond()) return true;
  return false;
}

export function expectExit(r: CliResult, code: number, what = ''): void {
  if (r.code !== code)
    throw new Error(`${what} exit ${r.code}, expected ${code}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`);
}

/** The lab's host facts, read over ssh with the engine's own probe. */
export function labFacts(lab: Lab): HostFacts {
  return hostFactsProbe.parse(onHost(lab, hostFactsProbe.script), 0);
}

/** Everything the steps manage, as the steps themselves say it on a blank host. */
export interface Inventory {
  /** path -> step id */
  files: Map<string, string>;
  packages: Map<string, string>;
  /** units the steps enable and start -> step id */
  services: Map<string, string>;
}

const BLANK_UNIT = {
  enabled: 'disabled',
  active: 'inactive',
  mainPid: 0,
  env: {},
  envSource: 'proc' as const,
  startedAt: 0,
};

/**
 * Runs every selected step's check() with the real host's facts against a blank host
 * (no files, no packages, no running units): each change it asks for is a thing the
 * lab manages. This reads the steps' desired state, the same data `up` converges to.
 */
export async function inventory(facts: HostFacts, options: Partial<LabOptions> = {}): Promise<Inventory> {
  const inv: Inventory = { files: new Map(), packages: new Map(), services: new Map() };
  const units = new Proxy({}, { get: () => BLANK_UNIT });
  for (const step of STEPS.filter((s) => !SKIP.split(',').includes(s.id))) {
    const { ctx } = fakeContext(
      {
        facts,
        files: {},
        installed: [],
        units,
        pending: [],
        other: {
          needrestart: false,
          'cloud-init-status': '',
          'apt-busy': '',
          apache: { mods: [], confs: [] },
          'dropin-mtimes': {},
          'bpf-build': '',
        },
      },
      { options: { prometheusSource: 'package', ...options } },
    );
    const { changes } = await step.check(ctx);
    for (const c of changes) {
      if (c.kind === 'file' && c.action === 'create') inv.files.set(c.path, step.id);
      if (c.kind === 'package') inv.packages.set(c.name, step.id);
      if (c.kind === 'unit' && (c.action === 'enable' || c.action === 'start')) inv.services.set(c.unit, step.id);
    }
  }
  return inv;
}

/** Temp files of an atomic put (`.<name>.ebpf-lab-tmp.<12 hex>`, formerly without `tmp.`) anywhere the lab writes. */
export function leftoverTemps(lab: Lab): string[] {
  return onHost(
    lab,
    `find /etc /var/www /opt/ebpf-lab /var/lib/ebpf-lab -regextype posix-extended -regex '.*/\\.[^/]*\\.ebpf-lab-(tmp\\.)?[0-9a-f]{12}' 2>/dev/null; true`,
  )
    .split('\n')
    .filter(Boolean);
}

/** Managed files that are missing or empty. */
export function emptyOrMissing(lab: Lab, paths: string[]): string[] {
  const script = paths.map((p) => `[ -s '${p}' ] || echo '${p}'`).join('\n') + '\ntrue';
  return onHost(lab, script).split('\n').filter(Boolean);
}

/**
 * sha256, mode, owner and mtime of files (absent ones say so): a before/after fingerprint.
 * One sha256sum and one stat for all of them (a missing file's error line is part of it).
 */
export function fingerprint(lab: Lab, paths: string[]): string {
  const args = paths.map((p) => `'${p}'`).join(' ');
  return onHost(lab, `sha256sum -- ${args} 2>&1; stat -c '%a %U %G %Y %n' -- ${args} 2>&1; true`);
}
