/**
 * `sandbox` / `sandbox:NAME`: a local systemd-nspawn container that ebpf-lab creates, boots,
 * reuses and destroys (src/targets/sandbox.ts does the work; this module adapts it to the
 * Target contract). Loaded at start-up: the container code and ssh2 are imported on use.
 */
import { UserError } from '../errors.js';
import { cacheDir, forgetLab, knownHostsPath, labHome } from '../state.js';
import { recordStatus, sshArgsFor, statusLine } from './common.js';
import { labUrls } from './urls.js';
import type { Target, TargetSpec } from './target.js';

export interface SandboxSpec extends TargetSpec {
  kind: 'sandbox';
  name: string;
}

/** The sandbox's OS (--os; undefined: its own, or the default for a new one) and archive mirror. */
export interface SandboxInputs {
  os?: string;
  mirror?: string;
}

const sandbox = () => import('./sandbox.js');

export const sandboxTarget: Target<SandboxSpec, SandboxInputs> = {
  kind: 'sandbox',
  forms: ['sandbox', 'sandbox:NAME'],
  summary:
    'a local systemd-nspawn container of a real distribution release (Ubuntu 22.04 unless --os says otherwise) that ebpf-lab creates and destroys (the default; needs root)',
  flags: [
    {
      flags: '--os <os>',
      description:
        'the OS of a new sandbox: ubuntu-22.04 (default), ubuntu-24.04, ubuntu-26.04, debian-12 or debian-13 (an existing sandbox keeps its own)',
      use: 'create',
    },
  ],
  // The sandbox has no internet: the distribution's Prometheus comes from its local repository.
  defaults: { prometheusSource: 'package' },
  downDestroysHost: true,

  parse(raw) {
    const m = /^sandbox(?::([a-z0-9][a-z0-9-]{0,30}))?$/.exec(raw);
    if (!m) return undefined;
    const name = m[1] ?? 'default';
    return { kind: 'sandbox', name, label: `sandbox:${name}` };
  },

  recordName: (spec) => spec.label,

  // Bad input before anything is touched: an unknown --os, a malformed EBPF_LAB_APT_MIRROR.
  async resolve(_spec, flags) {
    const { parseSandboxOs, parseMirror, MIRROR_ENV } = await import('./sandbox-os.js');
    return { os: parseSandboxOs(flags['os'] as string | undefined), mirror: parseMirror(process.env[MIRROR_ENV]) };
  },

  async open(spec, inputs, o) {
    const { sandboxState, sandboxUp } = await sandbox();
    const ref = { name: spec.name, home: labHome() };
    if (!o.create && (await sandboxState(ref)) === 'absent')
      throw new UserError(
        `there is no sandbox named "${spec.name}"`,
        `create it with: ebpf-lab up --target ${spec.label}`,
      );
    // sandboxUp checks its inputs (an OS change, say) before it installs host tools. A
    // running sandbox is connected to at once; only a failed connection waits for its sshd.
    let info = await sandboxUp({
      ...ref,
      os: inputs.os,
      mirror: inputs.mirror,
      cacheDir: cacheDir(),
      packages: o.packages,
      log: o.log,
      connectFirst: true,
    });
    // The TCP connection first: sshd starts its side while the ssh library loads.
    const { dial } = await import('../transports/dial.js');
    const dialled = dial(info.host, info.port);
    const { connectSsh, LostBeforeHandshake } = await import('../transports/ssh.js');
    const connect = (i: typeof info, early?: typeof dialled) =>
      connectSsh(
        { host: i.host, port: i.port, user: i.user, keyPath: i.keyPath },
        { knownHostsPath: knownHostsPath(), pinned: i.hostKeys },
        { log: o.log, ...(early ? { dialled: early } : {}), ...(o.connecting ? { connecting: o.connecting } : {}) },
      );
    let transport;
    try {
      transport = await connect(info, dialled);
    } catch (e) {
      const { sandboxSshReady } = await sandbox();
      const ready = await sandboxSshReady({ ...ref, log: o.log }).catch(() => undefined);
      // sshd answered at once (or the sandbox is gone): the connection failed for its own
      // reason. Unless it was lost before the handshake: sshd was still starting then (a
      // sandbox found running while it booted) and answers now.
      if (!ready || (!ready.waited && !(e instanceof LostBeforeHandshake))) throw e;
      info = ready.info;
      transport = await connect(info);
    }
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
        os: info.os,
        createdByUs: true,
      },
      urls: labUrls({ kind: 'sandbox' }, info.urls),
    };
  },

  async down(spec, _inputs, write) {
    const { sandboxDown, sandboxHostKeys } = await sandbox();
    const { forgetKnownHosts, parsePublicKeyLine } = await import('../transports/known-hosts.js');
    const ref = { name: spec.name, home: labHome() };
    const hostKeys = (await sandboxHostKeys(ref)).map(parsePublicKeyLine);
    const removed = await sandboxDown(ref);
    // Its known-hosts lines: those holding its own host keys (made for it), on 127.0.0.1.
    if (removed) await forgetKnownHosts(knownHostsPath(), hostKeys, (h) => /^\[127\.0\.0\.1\]:\d+$/.test(h));
    await forgetLab(spec.label);
    write(removed ? `${spec.label}: stopped and removed` : `${spec.label}: nothing to remove (it does not exist)`);
    return 0;
  },

  async status(lab) {
    const { sandboxInfo, sandboxOsOf, sandboxState } = await sandbox();
    const ref = { name: lab.target.split(':')[1] ?? 'default', home: labHome() };
    const state = await sandboxState(ref);
    const os = (await sandboxOsOf(ref)) ?? lab.os;
    // Its Grafana and pages live in the container's own network namespace, forwarded to this machine's loopback.
    const urls = labUrls({ kind: 'sandbox' }, (await sandboxInfo(ref))?.urls);
    return { ...(await recordStatus(lab, state, urls.grafana)), ...(os ? { os } : {}), urls };
  },

  formatStatus: statusLine,

  async sshArgs(spec) {
    const { sandboxInfo, sandboxState } = await sandbox();
    const ref = { name: spec.name, home: labHome() };
    const info = await sandboxInfo(ref);
    if (!info) {
      const absent = (await sandboxState(ref)) === 'absent';
      throw new UserError(
        absent ? `there is no sandbox named "${spec.name}"` : `sandbox "${spec.name}" is not running`,
        `${absent ? 'create' : 'start'} it with: ebpf-lab up --target ${spec.label}`,
      );
    }
    return sshArgsFor(info);
  },
};
