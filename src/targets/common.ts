/** Pieces several targets share: the status line of a registry record and OpenSSH arguments. */
import { UserError } from '../errors.js';
import { knownHostsPath, type LabRecord } from '../state.js';
import type { Interaction, StatusRow } from './target.js';
import { labUrls, urlLines } from './urls.js';

/** A registry record with a state and, when the grafana step ran, the Grafana URL and password. */
export async function recordStatus(lab: LabRecord, state: string, grafanaUrl: string | undefined): Promise<StatusRow> {
  // secrets.js loads node:crypto (~10 ms): only when a status is asked for, not at start-up.
  const grafanaPassword = await (await import('../secrets.js')).readSecret(lab.name, 'grafana');
  return { ...lab, state, ...(grafanaPassword ? { grafanaUrl, grafanaPassword } : {}) };
}

/** name, kind, state, where (and OS), last run, Grafana; then where to open the lab. */
export function statusLine(r: StatusRow): string {
  const where = (r.host ? `${r.user}@${r.host}:${r.port}` : r.target) + (r.os ? ` (${r.os})` : '');
  const last = r.lastRun ? `last ${r.lastRun.command} ${r.lastRun.ok ? 'ok' : 'FAILED'} at ${r.lastRun.at}` : '';
  const g = r.grafanaPassword
    ? `  grafana ${r.grafanaUrl} admin password ${r.grafanaPassword}`
    : r.grafanaPasswordHidden
      ? `  grafana ${r.grafanaUrl} (admin password: ${r.grafanaPasswordHidden})`
      : '';
  const urls = urlLines(r.urls ?? labUrls(r)).map((l) => `\n  ${l}`);
  return `${r.name.padEnd(22)} ${r.kind.padEnd(9)} ${String(r.state).padEnd(8)} ${where}  ${last}${g}${urls.join('')}`;
}

/** OpenSSH arguments for a host whose key is pinned in ebpf-lab's known_hosts. */
export function sshArgsFor(h: { host: string; port: number; user: string; keyPath?: string }): string[] {
  const args = [
    '-p',
    String(h.port),
    '-o',
    `UserKnownHostsFile=${knownHostsPath()}`,
    '-o',
    'StrictHostKeyChecking=yes',
  ];
  if (h.keyPath) args.push('-i', h.keyPath, '-o', 'IdentitiesOnly=yes');
  args.push(`${h.user}@${h.host}`);
  return args;
}

/**
 * Deleting cloud resources: asked on a terminal (default no); without a terminal it needs
 * --yes, so nothing is deleted by a script that did not say so.
 */
export async function confirmDeletion(io: Interaction, what: string): Promise<void> {
  if (!io.isTTY())
    throw new UserError(
      `not deleting ${what} without confirmation; nothing was deleted`,
      'there is no terminal to ask on: re-run with --yes to delete it',
    );
  if (!(await io.prompter.confirm({ message: `Delete ${what}?`, default: false })))
    throw new UserError('cancelled: nothing was deleted', 'run the command again and answer yes, or pass --yes');
}

/** Creating a paid resource: asked on a terminal (default no); without a terminal it needs --yes. */
export async function confirmCreation(io: Interaction, what: string): Promise<void> {
  if (!io.isTTY())
    throw new UserError(
      `not creating ${what} without confirmation; nothing was created`,
      'there is no terminal to ask on: re-run with --yes to create it',
    );
  if (!(await io.prompter.confirm({ message: `Create ${what}?`, default: false })))
    throw new UserError('cancelled: nothing was created', 'run the command again and answer yes, or pass --yes');
}
