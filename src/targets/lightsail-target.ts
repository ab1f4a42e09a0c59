/**
 * `lightsail` / `lightsail:NAME`: an Amazon Lightsail instance that ebpf-lab creates, tags as
 * its own and deletes (src/targets/lightsail.ts does the work). The AWS SDK is loaded only
 * when a lightsail lab is actually involved: it costs ~200 ms of start-up.
 */
import { readRegistry } from '../state.js';
import { UserError } from '../errors.js';
import { confirmCreation, confirmDeletion, sshArgsFor } from './common.js';
import type { LightsailFlags, LightsailInputs } from './lightsail-inputs.js';
import type { StatusRow, Target, TargetSpec } from './target.js';

export interface LightsailSpec extends TargetSpec {
  kind: 'lightsail';
  name: string;
}

const lightsail = () => import('./lightsail.js');
const recordName = (spec: LightsailSpec) => `lightsail:${spec.name}`;

export const lightsailTarget: Target<LightsailSpec, LightsailInputs> = {
  kind: 'lightsail',
  forms: ['lightsail', 'lightsail:NAME'],
  summary: 'an Amazon Lightsail instance that ebpf-lab creates and deletes (AWS credentials needed)',
  flags: [
    { flags: '--region <region>', description: 'AWS region (default: AWS_REGION or the profile)', use: 'reach' },
    { flags: '--profile <name>', description: 'AWS profile from ~/.aws/config (default: AWS_PROFILE)', use: 'reach' },
    {
      flags: '--config <file>',
      description: 'JSON/YAML file with region, bundle, blueprint, allowFrom, ttl',
      use: 'reach',
    },
    { flags: '--bundle <id>', description: 'instance size (default small_3_0)', use: 'create' },
    {
      flags: '--blueprint <id>',
      description: 'ubuntu_22_04 (default), ubuntu_24_04 or debian_12',
      use: 'create',
    },
    {
      flags: '--allow-from <cidr>',
      description: 'who may reach ports 22/80/3000 (repeatable; default everyone)',
      use: 'create',
      repeat: true,
    },
    { flags: '--ttl <duration>', description: 'tag the instance to expire after 90m, 8h, 2d…', use: 'create' },
    {
      flags: '-y, --yes',
      description: 'create without asking (needed without a terminal; the cost is in the question)',
      use: 'create',
    },
  ],
  defaults: { prometheusSource: 'release' },
  downDestroysHost: true,

  parse(raw) {
    const m = /^lightsail(?::([a-z][a-z0-9-]{0,40}))?$/.exec(raw);
    if (!m) return undefined;
    const name = m[1] ?? 'ebpf-lab';
    return { kind: 'lightsail', name, label: `lightsail:${name}` };
  },

  recordName,

  async resolve(spec, flags, ctx) {
    const known = (await readRegistry()).labs[recordName(spec)];
    const f = flags as LightsailFlags;
    const { resolveInputs } = await import('./lightsail-inputs.js');
    const inputs = await resolveInputs({
      flags: { ...f, profile: f.profile ?? known?.profile },
      io: ctx.io,
      client: (await lightsail()).lightsailDeps.makeClient,
      knownRegion: known?.region,
    });
    // Creating or deleting a paid resource: asked on a terminal, --yes without one, before anything happens.
    if (ctx.purpose === 'create' && !f.yes) {
      const what = await (await lightsail()).createPreview(spec.name, inputs);
      if (what) await confirmCreation(ctx.io, what);
    }
    if (ctx.purpose === 'down' && !f.yes) {
      const what = await (await lightsail()).downPreview(spec.name, inputs);
      if (what) await confirmDeletion(ctx.io, what);
    }
    return inputs;
  },

  async open(spec, inputs, o) {
    return (await lightsail()).openLightsail(spec, inputs, o);
  },

  async down(spec, inputs, write) {
    return (await lightsail()).lightsailDown(spec, inputs, write);
  },

  async status(lab) {
    return (await lightsail()).lightsailStatus(lab);
  },

  formatStatus,

  async sshArgs(spec) {
    await (await lightsail()).refreshLightsailLab(spec.name);
    const lab = (await readRegistry()).labs[recordName(spec)];
    if (!lab?.host || !lab.port || !lab.user)
      throw new UserError(
        `no lab known as ${spec.label}`,
        'run `ebpf-lab status` to list labs, or `ebpf-lab up` first',
      );
    return sshArgsFor({ host: lab.host, port: lab.port, user: lab.user, keyPath: lab.keyPath });
  },
};

/** A status line: name, state, where (with the region), Grafana URL and password, last run. */
function formatStatus(r: StatusRow): string {
  const where = r.host ? `${r.user}@${r.host}${r.port === 22 ? '' : `:${r.port}`} (${r.region})` : `(${r.region})`;
  const grafana = r.grafanaUrl
    ? `  grafana ${r.grafanaUrl}${r.grafanaPassword ? ` password ${r.grafanaPassword}` : r.grafanaPasswordHidden ? ` (password: ${r.grafanaPasswordHidden})` : ''}`
    : '';
  const last = r.lastRun ? `  last ${r.lastRun.command} ${r.lastRun.ok ? 'ok' : 'FAILED'} at ${r.lastRun.at}` : '';
  return `${r.name.padEnd(22)} ${'lightsail'.padEnd(9)} ${r.state.padEnd(8)} ${where}${grafana}${last}`;
}
