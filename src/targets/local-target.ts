/** `local`: the machine ebpf-lab runs on. Not created by ebpf-lab: `down` only forgets it. */
import { UserError } from '../errors.js';
import { forgetLab, readRegistry } from '../state.js';
import { recordStatus, statusLine } from './common.js';
import type { Target, TargetSpec } from './target.js';

export interface LocalSpec extends TargetSpec {
  kind: 'local';
}

export const localTarget: Target<LocalSpec, Record<string, never>> = {
  kind: 'local',
  forms: ['local'],
  summary: 'the machine ebpf-lab runs on',
  flags: [],
  defaults: { prometheusSource: 'release' },
  downDestroysHost: false,

  parse: (raw) => (raw === 'local' ? { kind: 'local', label: 'local' } : undefined),

  recordName: () => 'local',

  resolve: async () => ({}),

  async open() {
    const { connectLocal } = await import('../transports/local.js');
    return {
      transport: await connectLocal(),
      record: { name: 'local', kind: 'local', target: 'local', createdByUs: false },
    };
  },

  async down(spec, _inputs, write) {
    if ((await readRegistry()).labs['local']) await forgetLab('local');
    write(`${spec.label}: ebpf-lab did not create this host, so it leaves it as it is (forgotten from the lab list)`);
    return 0;
  },

  status: (lab) => recordStatus(lab, 'unknown', undefined),

  formatStatus: statusLine,

  async sshArgs() {
    throw new UserError('the local target is this machine: there is nothing to ssh to', 'open a shell here instead');
  },
};
