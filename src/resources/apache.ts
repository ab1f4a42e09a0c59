import { probe, type Probe } from './probe.js';
import type { Change, StepContext } from '../runner/types.js';

/** Enabled apache modules and confs (Debian's a2enmod/a2enconf symlink layout). */
export interface ApacheState {
  mods: string[];
  confs: string[];
}

export const apacheProbe: Probe<ApacheState> = probe(
  `echo mods $(ls /etc/apache2/mods-enabled 2>/dev/null | sed -n 's/\\.load$//p'); echo confs $(ls /etc/apache2/conf-enabled 2>/dev/null | sed -n 's/\\.conf$//p')`,
  (out) => {
    const line = (k: string) =>
      (out.split('\n').find((l) => l.startsWith(k + ' ')) ?? '').split(' ').slice(1).filter(Boolean);
    return { mods: line('mods'), confs: line('confs') };
  },
  { id: 'apache' },
);

export function apacheChanges(state: ApacheState, mods: string[], confs: string[], notMods: string[] = []): Change[] {
  return [
    ...mods.filter((m) => !state.mods.includes(m)).map((m) => ({ resource: `apache-mod:${m}`, action: 'enable' })),
    ...notMods.filter((m) => state.mods.includes(m)).map((m) => ({ resource: `apache-mod:${m}`, action: 'disable' })),
    ...confs.filter((c) => !state.confs.includes(c)).map((c) => ({ resource: `apache-conf:${c}`, action: 'enable' })),
  ];
}

/** a2dismod/a2enmod/a2enconf for the listed changes, then apache's own config test. */
export async function applyApache(ctx: StepContext, changes: Change[]): Promise<void> {
  const pick = (kind: string, action: string) =>
    changes
      .filter((c) => c.resource.startsWith(kind + ':') && c.action === action)
      .map((c) => c.resource.split(':')[1]!);
  const dis = pick('apache-mod', 'disable');
  if (dis.length) await ctx.host.exec(['a2dismod', '-q', '-f', ...dis], { sudo: true });
  const mods = pick('apache-mod', 'enable');
  if (mods.length) await ctx.host.exec(['a2enmod', '-q', ...mods], { sudo: true });
  const confs = pick('apache-conf', 'enable');
  if (confs.length) await ctx.host.exec(['a2enconf', '-q', ...confs], { sudo: true });
}

export async function apacheConfigTest(ctx: StepContext): Promise<void> {
  await ctx.host.exec(['apache2ctl', 'configtest'], { sudo: true });
}
