import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { connectSsh } from '../transports/ssh.js';
import { connectLocal } from '../transports/local.js';
import { ensureHostTools, sandboxState, sandboxUp } from './sandbox.js';
import { cacheDir, knownHostsPath, labHome, readRegistry, type LabRecord } from '../state.js';
import type { Transport } from '../transports/transport.js';

export type TargetSpec =
  | { kind: 'sandbox'; name: string; label: string }
  | { kind: 'ssh'; user: string; host: string; port: number; label: string }
  | { kind: 'local'; label: string }
  | { kind: 'lightsail'; name: string; label: string };

const FORMS = 'sandbox, sandbox:NAME, ssh://user@host[:port], local, lightsail, lightsail:NAME';

/** Parses --target; anything else is a user error naming the accepted forms. */
export function parseTarget(raw: string | undefined): TargetSpec {
  const t = raw ?? 'sandbox';
  let m: RegExpExecArray | null;
  if ((m = /^sandbox(?::([a-z0-9][a-z0-9-]{0,30}))?$/.exec(t)))
    return { kind: 'sandbox', name: m[1] ?? 'default', label: `sandbox:${m[1] ?? 'default'}` };
  if (t === 'local') return { kind: 'local', label: 'local' };
  if ((m = /^lightsail(?::([a-z][a-z0-9-]{0,40}))?$/.exec(t)))
    return { kind: 'lightsail', name: m[1] ?? 'ebpf-lab', label: `lightsail:${m[1] ?? 'ebpf-lab'}` };
  if (t.startsWith('ssh://')) {
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
  }
  if (/^[\w.-]+@[\w.-]+$/.test(t))
    throw new UserError(`unknown target "${t}"`, `did you mean ssh://${t}? Targets: ${FORMS}`);
  throw new UserError(`unknown target "${t}"`, `targets: ${FORMS}`);
}

function defaultKey(): string | undefined {
  for (const k of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const p = join(homedir(), '.ssh', k);
    if (existsSync(p)) return p;
  }
  return undefined;
}

export interface OpenedTarget {
  transport: Transport;
  record: Omit<LabRecord, 'createdAt'>;
}

/**
 * Connects to a target for a run. `create` (up): a sandbox is created or booted;
 * otherwise a sandbox must already exist. One connection for the whole run.
 */
export async function openTarget(
  spec: TargetSpec,
  o: { create: boolean; keyPath?: string; packages: () => string[]; log: (l: string) => void },
): Promise<OpenedTarget> {
  if (spec.kind === 'local') {
    return {
      transport: await connectLocal(),
      record: { name: 'local', kind: 'local', target: 'local', createdByUs: false },
    };
  }
  if (spec.kind === 'ssh') {
    const keyPath = o.keyPath ?? (process.env['SSH_AUTH_SOCK'] ? undefined : defaultKey());
    const transport = await connectSsh(
      { host: spec.host, port: spec.port, user: spec.user, keyPath },
      { knownHostsPath: knownHostsPath() },
      { log: o.log },
    );
    return {
      transport,
      record: {
        name: `${spec.host}:${spec.port}`,
        kind: 'ssh',
        target: spec.label,
        host: spec.host,
        port: spec.port,
        user: spec.user,
        keyPath,
        createdByUs: false,
      },
    };
  }
  if (spec.kind === 'sandbox') {
    const ref = { name: spec.name, home: labHome() };
    if (!o.create && (await sandboxState(ref)) === 'absent')
      throw new UserError(
        `there is no sandbox named "${spec.name}"`,
        `create it with: ebpf-lab up --target ${spec.label}`,
      );
    await ensureHostTools(o.log);
    const info = await sandboxUp({ ...ref, cacheDir: cacheDir(), packages: o.packages(), log: o.log });
    const transport = await connectSsh(
      { host: info.host, port: info.port, user: info.user, keyPath: info.keyPath },
      { knownHostsPath: knownHostsPath(), pinned: info.hostKeys },
      { log: o.log },
    );
    return {
      transport,
      record: {
        name: spec.label,
        kind: 'sandbox',
        target: spec.label,
        host: info.host,
        port: info.port,
        user: info.user,
        keyPath: info.keyPath,
        createdByUs: true,
      },
    };
  }
  // loaded on demand: the AWS SDK costs ~200 ms of start-up that other targets never need
  return (await import('./lightsail.js')).openLightsail(spec, o);
}

export async function knownLab(name: string): Promise<LabRecord | undefined> {
  return (await readRegistry()).labs[name];
}
