import { spawn } from 'node:child_process';
import { UserError } from '../errors.js';
import { forgetSecrets, readSecret, secretPath } from '../secrets.js';
import { parseTarget } from '../targets/resolve.js';
import { sandboxDown, sandboxState } from '../targets/sandbox.js';
import type { LightsailStatus } from '../targets/lightsail.js';

// The lightsail module (and the AWS SDK) is loaded only when a lightsail lab is involved.
const lightsail = () => import('../targets/lightsail.js');
import { forgetLab, knownHostsPath, labHome, readRegistry } from '../state.js';

/** down: destroys only what this tool created (a sandbox); other hosts are just forgotten. */
export async function downCommand(target: string | undefined, write: (s: string) => void): Promise<number> {
  const spec = parseTarget(target);
  // Injected network delay is a runtime change on the host: never left behind.
  await (await import('./latency.js')).clearLatencyForDown(target, write);
  if (spec.kind === 'sandbox') {
    const removed = await sandboxDown({ name: spec.name, home: labHome() });
    await forgetLab(spec.label);
    await forgetSecrets(spec.label); // its Grafana is gone with it
    write(removed ? `${spec.label}: stopped and removed` : `${spec.label}: nothing to remove (it does not exist)`);
    return 0;
  }
  if (spec.kind === 'lightsail') {
    const code = await (await lightsail()).lightsailDown(spec, write);
    await forgetSecrets(spec.label);
    return code;
  }
  const reg = await readRegistry();
  const name = spec.kind === 'ssh' ? `${spec.host}:${spec.port}` : 'local';
  if (reg.labs[name]) await forgetLab(name);
  write(`${spec.label}: ebpf-lab did not create this host, so it leaves it as it is (forgotten from the lab list)`);
  if (await readSecret(name, 'grafana'))
    write(
      `${spec.label}: its Grafana keeps running with the admin password kept in ${secretPath(name, 'grafana')} (delete that file once you no longer need it)`,
    );
  return 0;
}

/** status: every lab this tool knows, with its state and how to reach it. */
export async function statusCommand(
  output: string | undefined,
  write: (s: string) => void,
  opts: { showPassword?: boolean } = {},
): Promise<number> {
  const reg = await readRegistry();
  const rows = [];
  for (const lab of Object.values(reg.labs)) {
    if (lab.kind === 'lightsail') {
      rows.push(await (await lightsail()).lightsailStatus(lab));
      continue;
    }
    const state =
      lab.kind === 'sandbox'
        ? await sandboxState({ name: lab.target.split(':')[1] ?? 'default', home: labHome() })
        : 'unknown';
    const grafanaPassword = await readSecret(lab.name, 'grafana');
    // The sandbox's Grafana lives in the container's own network namespace: reach it through `ebpf-lab ssh`.
    const grafanaUrl =
      lab.kind === 'sandbox'
        ? 'http://127.0.0.1:3000 (inside the sandbox)'
        : lab.host
          ? `http://${lab.host}:3000`
          : undefined;
    rows.push({ ...lab, state, ...(grafanaPassword ? { grafanaUrl, grafanaPassword } : {}) });
  }
  // The Grafana admin password is shown only when asked for (--show-password).
  if (!opts.showPassword)
    for (const r of rows as { grafanaPassword?: string; grafanaPasswordHidden?: string }[])
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
  for (const r of rows) {
    if (r.kind === 'lightsail') {
      write((await lightsail()).formatLightsailStatus(r as LightsailStatus));
      continue;
    }
    const where = r.host ? `${r.user}@${r.host}:${r.port}` : r.target;
    const last = r.lastRun ? `last ${r.lastRun.command} ${r.lastRun.ok ? 'ok' : 'FAILED'} at ${r.lastRun.at}` : '';
    const g =
      'grafanaPassword' in r && r.grafanaPassword
        ? `  grafana ${r.grafanaUrl} admin password ${r.grafanaPassword}`
        : 'grafanaPasswordHidden' in r
          ? `  grafana ${r.grafanaUrl} (admin password: ebpf-lab status --show-password)`
          : '';
    write(`${r.name.padEnd(22)} ${r.kind.padEnd(9)} ${String(r.state).padEnd(8)} ${where}  ${last}${g}`);
  }
  return 0;
}

/** ssh: an interactive shell on a lab, with the pinned host key and the lab's key. */
export async function sshCommand(target: string | undefined): Promise<number> {
  const spec = parseTarget(target);
  if (spec.kind === 'lightsail') await (await lightsail()).refreshLightsailLab(spec.name);
  const reg = await readRegistry();
  const name = spec.kind === 'ssh' ? `${spec.host}:${spec.port}` : spec.label;
  const lab = reg.labs[name];
  if (!lab?.host || !lab.port)
    throw new UserError(`no lab known as ${spec.label}`, 'run `ebpf-lab status` to list labs, or `ebpf-lab up` first');
  const args = [
    '-p',
    String(lab.port),
    '-o',
    `UserKnownHostsFile=${knownHostsPath()}`,
    '-o',
    'StrictHostKeyChecking=yes',
  ];
  if (lab.keyPath) args.push('-i', lab.keyPath, '-o', 'IdentitiesOnly=yes');
  args.push(`${lab.user}@${lab.host}`);
  return await new Promise((resolve) => {
    const child = spawn('ssh', args, { stdio: 'inherit' });
    child.on('exit', (code) => resolve(code ?? 1));
    child.on('error', () => resolve(127));
  });
}
