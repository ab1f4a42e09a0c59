/**
 * `sandbox` / `sandbox:NAME`: a local systemd-nspawn container that ebpf-lab creates, boots,
 * reuses and destroys (src/targets/sandbox.ts does the work; this module adapts it to the
 * Target contract). Loaded at start-up: the container code and ssh2 are imported on use.
 */
import { UserError } from '../errors.js';
import { cacheDir, forgetLab, knownHostsPath, labHome } from '../state.js';
import { recordStatus, sshArgsFor, statusLine } from './common.js';
import type { Target, TargetSpec } from './target.js';

export interface SandboxSpec extends TargetSpec {
  kind: 'sandbox';
  name: string;
}

/** Nothing to ask yet: every sandbox is the same kind of container. */
export type SandboxInputs = Record<string, never>;

const sandbox = () => import('./sandbox.js');

export const sandboxTarget: Target<SandboxSpec, SandboxInputs> = {
  kind: 'sandbox',
  forms: ['sandbox', 'sandbox:NAME'],
  summary: 'a local Debian 12 systemd-nspawn container that ebpf-lab creates and destroys (the default; needs root)',
  flags: [],
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

  resolve: async () => ({}),

  async open(spec, _inputs, o) {
    const { ensureHostTools, sandboxState, sandboxUp } = await sandbox();
    const ref = { name: spec.name, home: labHome() };
    if (!o.create && (await sandboxState(ref)) === 'absent')
      throw new UserError(
        `there is no sandbox named "${spec.name}"`,
        `create it with: ebpf-lab up --target ${spec.label}`,
      );
    await ensureHostTools(o.log);
    const info = await sandboxUp({ ...ref, cacheDir: cacheDir(), packages: o.packages(), log: o.log });
    const { connectSsh } = await import('../transports/ssh.js');
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
    const state = await (
      await sandbox()
    ).sandboxState({ name: lab.target.split(':')[1] ?? 'default', home: labHome() });
    // The sandbox's Grafana lives in the container's own network namespace: reach it through `ebpf-lab ssh`.
    return recordStatus(lab, state, 'http://127.0.0.1:3000 (inside the sandbox)');
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
