import { spawn } from 'node:child_process';
import { UserError } from '../errors.js';
import { readSecret } from '../secrets.js';
import { parseTarget } from '../targets/resolve.js';
import { sandboxDown, sandboxHostKeys, sandboxInfo, sandboxOsOf, sandboxState } from '../targets/sandbox.js';
import { forgetKnownHosts, parsePublicKeyLine } from '../transports/known-hosts.js';
import type { LightsailStatus } from '../targets/lightsail.js';

// The lightsail module (and the AWS SDK) is loaded only when a lightsail lab is involved.
const lightsail = () => import('../targets/lightsail.js');
import { forgetLab, knownHostsPath, labHome, readRegistry, type LabRecord } from '../state.js';

/** down: destroys only what this tool created (a sandbox); other hosts are just forgotten. */
export async function downCommand(target: string | undefined, write: (s: string) => void): Promise<number> {
  const spec = parseTarget(target);
  // Injected network delay is a runtime change on the host: never left behind.
  await (await import('./latency.js')).clearLatencyForDown(target, write);
  if (spec.kind === 'sandbox') {
    const ref = { name: spec.name, home: labHome() };
    const hostKeys = (await sandboxHostKeys(ref)).map(parsePublicKeyLine);
    const removed = await sandboxDown(ref);
    // Its known-hosts lines: those holding its own host keys (made for it), on 127.0.0.1.
    if (removed) await forgetKnownHosts(knownHostsPath(), hostKeys, (h) => /^\[127\.0\.0\.1\]:\d+$/.test(h));
    await forgetLab(spec.label);
    write(removed ? `${spec.label}: stopped and removed` : `${spec.label}: nothing to remove (it does not exist)`);
    return 0;
  }
  if (spec.kind === 'lightsail') return (await lightsail()).lightsailDown(spec, write);
  const reg = await readRegistry();
  const name = spec.kind === 'ssh' ? `${spec.host}:${spec.port}` : 'local';
  if (reg.labs[name]) await forgetLab(name);
  write(`${spec.label}: ebpf-lab did not create this host, so it leaves it as it is (forgotten from the lab list)`);
  return 0;
}

/**
 * Where a browser on this machine opens the lab: a sandbox's loopback forwards (while it
 * runs); a remote host's public pages and Grafana, with an `ssh -L` line for Prometheus,
 * which stays on the lab's loopback.
 */
export function labUrls(
  lab: Pick<LabRecord, 'kind' | 'host' | 'user' | 'port' | 'keyPath'>,
  sandbox?: Partial<Record<'web' | 'grafana' | 'prometheus', string>>,
): { pages?: string; fpm?: string; grafana?: string; prometheus?: string; tunnel?: string } {
  if (lab.kind === 'sandbox') {
    if (!sandbox?.web) return {};
    return { pages: sandbox.web, fpm: `${sandbox.web}fpm/`, grafana: sandbox.grafana, prometheus: sandbox.prometheus };
  }
  if (!lab.host || lab.kind === 'local') return {};
  const h = lab.host.includes(':') ? `[${lab.host}]` : lab.host;
  const key = lab.keyPath ? ` -i ${lab.keyPath}` : '';
  return {
    pages: `http://${h}/`,
    fpm: `http://${h}/fpm/`,
    grafana: `http://${h}:3000/`,
    prometheus: 'http://127.0.0.1:9090/ (after the tunnel below)',
    tunnel: `ssh${key} -p ${lab.port ?? 22} -N -L 9090:127.0.0.1:9090 ${lab.user ?? 'root'}@${lab.host}`,
  };
}

/** The URL lines `up` ends with and `status` prints under each lab. */
export function urlLines(u: ReturnType<typeof labUrls>): string[] {
  const lines: string[] = [];
  if (u.pages) lines.push(`pages      ${u.pages} (mod_php)   ${u.fpm} (php-fpm)`);
  if (u.grafana) lines.push(`grafana    ${u.grafana}`);
  if (u.prometheus) lines.push(`prometheus ${u.prometheus}`);
  if (u.tunnel) lines.push(`tunnel     ${u.tunnel}`);
  return lines;
}

/** status: every lab this tool knows, with its state and how to reach it. */
export async function statusCommand(output: string | undefined, write: (s: string) => void): Promise<number> {
  const reg = await readRegistry();
  const rows = [];
  for (const lab of Object.values(reg.labs)) {
    if (lab.kind === 'lightsail') {
      rows.push(await (await lightsail()).lightsailStatus(lab));
      continue;
    }
    const ref = { name: lab.target.split(':')[1] ?? 'default', home: labHome() };
    const state = lab.kind === 'sandbox' ? await sandboxState(ref) : 'unknown';
    const os = lab.kind === 'sandbox' ? ((await sandboxOsOf(ref)) ?? lab.os) : lab.os;
    const grafanaPassword = await readSecret(lab.name, 'grafana');
    const urls = labUrls(lab, lab.kind === 'sandbox' ? (await sandboxInfo(ref))?.urls : undefined);
    const grafanaUrl = urls.grafana;
    rows.push({
      ...lab,
      state,
      ...(os ? { os } : {}),
      urls,
      ...(grafanaPassword ? { grafanaUrl, grafanaPassword } : {}),
    });
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
    const where = (r.host ? `${r.user}@${r.host}:${r.port}` : r.target) + (r.os ? ` (${r.os})` : '');
    const last = r.lastRun ? `last ${r.lastRun.command} ${r.lastRun.ok ? 'ok' : 'FAILED'} at ${r.lastRun.at}` : '';
    const g =
      'grafanaPassword' in r && r.grafanaPassword
        ? `  grafana ${r.grafanaUrl} admin password ${r.grafanaPassword}`
        : '';
    write(`${r.name.padEnd(22)} ${r.kind.padEnd(9)} ${String(r.state).padEnd(8)} ${where}  ${last}${g}`);
    for (const line of urlLines((r as { urls?: ReturnType<typeof labUrls> }).urls ?? {})) write(`  ${line}`);
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
