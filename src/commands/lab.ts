import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { statusLine } from '../targets/common.js';
import { parseTarget, targetOfKind } from '../targets/index.js';
import type { StatusRow } from '../targets/target.js';
import { readRegistry } from '../state.js';
import { chooseTarget, type TargetInput } from './lab-target.js';
import { terminal } from './prompt.js';

export interface DownInput extends TargetInput {
  /** Delete cloud resources without asking (needed without a terminal). */
  yes?: boolean;
}

/** down: destroys only what this tool created (a sandbox, a Lightsail instance); other hosts are just forgotten. */
export async function downCommand(input: DownInput, write: (s: string) => void): Promise<number> {
  const chosen = parseTarget(input.target);
  // Asked (or refused without --yes) before anything is deleted.
  const ready = await chosen.resolve(
    { ...input.targetFlags, ...(input.yes ? { yes: true } : {}) },
    { purpose: 'down', io: input.io ?? terminal() },
  );
  // Injected network delay is a runtime change on the host: never left behind.
  await (await import('./latency.js')).clearLatencyForDown(chosen, input, write);
  const code = await ready.down(write);
  const { forgetSecrets, readSecret, secretPath } = await import('../secrets.js');
  if (chosen.target.downDestroysHost)
    await forgetSecrets(chosen.recordName); // its Grafana is gone with it
  else if (await readSecret(chosen.recordName, 'grafana'))
    write(
      `${chosen.spec.label}: its Grafana keeps running with the admin password kept in ${secretPath(chosen.recordName, 'grafana')} (delete that file once you no longer need it)`,
    );
  return code;
}

/** status: every lab this tool knows, with its state and how to reach it. */
export async function statusCommand(
  output: string | undefined,
  write: (s: string) => void,
  opts: { showPassword?: boolean } = {},
): Promise<number> {
  const reg = await readRegistry();
  const rows: StatusRow[] = [];
  for (const lab of Object.values(reg.labs)) {
    const target = targetOfKind(lab.kind);
    rows.push(target ? await target.status(lab) : { ...lab, state: 'unknown' });
  }
  // The Grafana admin password is shown only when asked for (--show-password).
  if (!opts.showPassword)
    for (const r of rows)
      if (r.grafanaPassword) {
        delete r.grafanaPassword;
        r.grafanaPasswordHidden = 'ebpf-lab status --show-password';
      }
  if (output === 'json') {
    write(JSON.stringify({ labs: rows }, null, 2));
    return 0;
  }
  if (rows.length === 0) {
    write('no labs yet: create one with `ebpf-lab up` (a local sandbox) or `ebpf-lab up --target ssh://user@host`');
    return 0;
  }
  for (const r of rows) write((targetOfKind(r.kind)?.formatStatus ?? statusLine)(r));
  return 0;
}

export interface SshInput extends TargetInput {
  /** Run this on the lab instead of an interactive shell (words joined by ssh, like ssh itself). */
  command?: string[];
}

/** ssh: a shell (or one command) on a lab, with the pinned host key and the lab's key; ssh's exit code. */
export async function sshCommand(input: SshInput): Promise<number> {
  const { ready } = await chooseTarget(input, 'use');
  const args = await ready.sshArgs();
  // `--` before the destination: nothing after it is read as an ssh option.
  args.splice(args.length - 1, 0, '--');
  if (input.command?.length) args.push(...input.command);
  return await new Promise((resolve) => {
    const child = spawn('ssh', args, { stdio: 'inherit' });
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    child.on('error', () => resolve(127));
  });
}
