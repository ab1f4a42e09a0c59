import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');
export const CACHE = process.env['EBPF_LAB_CACHE'] ?? '/var/tmp/ebpf-lab-cache';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
  json?: any;
}

/** Runs the built CLI (bin/ebpf-lab.js) as a user would, with its own state dir. */
export function cli(args: string[], env: Record<string, string>, timeoutMs = 900_000): Promise<CliResult> {
  return cliChild(args, env, timeoutMs).result;
}

/** Same, with the child process at hand (to signal, pause or kill it mid-run). */
export function cliChild(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 900_000,
): { child: ChildProcess; result: Promise<CliResult> } {
  const t0 = Date.now();
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'ebpf-lab.js'), ...args], {
    env: { ...process.env, EBPF_LAB_CACHE: CACHE, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const result = new Promise<CliResult>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let json;
      if (args.includes('json')) {
        try {
          json = JSON.parse(stdout);
        } catch {
          /* not json: left undefined, the test will say so */
        }
      }
      resolve({ code: code ?? (signal === 'SIGKILL' ? 137 : 1), stdout, stderr, ms: Date.now() - t0, json });
    });
  });
  return { child, result };
}

/** "action resource" for every change of every step of a json run, sorted. */
export function changeList(json: any): string[] {
  return json.runs
    .flatMap((r: any) => r.steps.flatMap((s: any) => s.changes.map((c: any) => `${s.id}: ${c.action} ${c.resource}`)))
    .sort();
}
