/**
 * `ssh://user@host[:port]`: any supported host reached over SSH. ebpf-lab did not create it,
 * so `down` only forgets it. Key: --key FILE, else ssh-agent, else ~/.ssh/id_ed25519|ecdsa|rsa.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { forgetLab, knownHostsPath, readRegistry } from '../state.js';
import { recordStatus, sshArgsFor, statusLine } from './common.js';
import type { Target, TargetSpec } from './target.js';

export interface SshSpec extends TargetSpec {
  kind: 'ssh';
  user: string;
  host: string;
  port: number;
}

export interface SshInputs {
  /** Private key; undefined: ssh-agent (SSH_AUTH_SOCK) or none found. */
  keyPath?: string;
}

function defaultKey(): string | undefined {
  for (const k of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const p = join(homedir(), '.ssh', k);
    if (existsSync(p)) return p;
  }
  return undefined;
}

const recordName = (spec: SshSpec) => `${spec.host}:${spec.port}`;

export const sshTarget: Target<SshSpec, SshInputs> = {
  kind: 'ssh',
  forms: ['ssh://user@host[:port]'],
  summary: 'any Ubuntu 22.04/24.04 or Debian 12 host over SSH (sudo -n when the user is not root)',
  flags: [
    {
      flags: '--key <file>',
      description: 'SSH private key for ssh:// targets (default: ssh-agent, ~/.ssh/id_*)',
      use: 'reach',
    },
  ],
  defaults: { prometheusSource: 'release' },
  downDestroysHost: false,

  parse(t) {
    if (!t.startsWith('ssh://')) return undefined;
    let u: URL;
    try {
      u = new URL(t);
    } catch {
      throw new UserError(`malformed target "${t}"`, 'write it as ssh://user@host or ssh://user@host:2222');
    }
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    if (!host || u.pathname !== '' || u.search || u.hash || u.password)
      throw new UserError(
        `malformed target "${t}"`,
        'write it as ssh://user@host[:port], with no path, query or password',
      );
    if (!/^[A-Za-z0-9.:-]+$/.test(host) || host.startsWith('-'))
      throw new UserError(
        `"${host}" is not a valid host name or address`,
        'a host name (letters, digits, dots and dashes, not starting with a dash) or an IP address, e.g. ssh://root@203.0.113.7',
      );
    const port = u.port ? Number(u.port) : 22;
    if (!(port >= 1 && port <= 65535))
      throw new UserError(
        `port ${u.port} is out of range (1-65535)`,
        'leave the port out for 22, e.g. ssh://user@host, or give one like ssh://user@host:2222',
      );
    const user = decodeURIComponent(u.username) || process.env['USER'] || 'root';
    if (!/^[a-z_][a-z0-9_.-]{0,31}$/i.test(user))
      throw new UserError(`"${user}" is not a valid user name`, 'e.g. ssh://root@host or ssh://ubuntu@host');
    return { kind: 'ssh', user, host, port, label: `ssh://${user}@${host}:${port}` };
  },

  recordName,

  async resolve(_spec, flags) {
    const key = flags['key'] as string | undefined;
    return { keyPath: key ?? (process.env['SSH_AUTH_SOCK'] ? undefined : defaultKey()) };
  },

  async open(spec, inputs, o) {
    // The TCP connection first: sshd starts its side while the ssh library loads.
    const { dial } = await import('../transports/dial.js');
    const dialled = dial(spec.host, spec.port);
    const { connectSsh } = await import('../transports/ssh.js');
    const transport = await connectSsh(
      { host: spec.host, port: spec.port, user: spec.user, keyPath: inputs.keyPath },
      { knownHostsPath: knownHostsPath() },
      { log: o.log, dialled, ...(o.connecting ? { connecting: o.connecting } : {}) },
    );
    return {
      transport,
      record: {
        name: recordName(spec),
        kind: 'ssh',
        target: spec.label,
        host: spec.host,
        port: spec.port,
        user: spec.user,
        keyPath: inputs.keyPath,
        createdByUs: false,
      },
    };
  },

  async down(spec, _inputs, write) {
    if ((await readRegistry()).labs[recordName(spec)]) await forgetLab(recordName(spec));
    write(`${spec.label}: ebpf-lab did not create this host, so it leaves it as it is (forgotten from the lab list)`);
    return 0;
  },

  status: (lab) => recordStatus(lab, 'unknown', lab.host ? `http://${lab.host}:3000` : undefined),

  formatStatus: statusLine,

  async sshArgs(spec, inputs) {
    const known = (await readRegistry()).labs[recordName(spec)];
    return sshArgsFor({ host: spec.host, port: spec.port, user: spec.user, keyPath: inputs.keyPath ?? known?.keyPath });
  },
};
