import { probe, type Probe } from './probe.js';
import { ofKind, type Change, type StepContext } from '../runner/types.js';

/** Enabled apache modules and confs (Debian's a2enmod/a2enconf symlink layout). */
export interface ApacheState {
  mods: string[];
  confs: string[];
}

/** `<label> <name>…` for the entries `<dir>/*<ext>` (a dangling link too, as ls lists it), by glob: no process. */
const names = (label: string, dir: string, ext: string) =>
  `n=; for f in ${dir}/*${ext}; do [ -e "$f" ] || [ -L "$f" ] || continue; f=\${f##*/}; n="$n \${f%${ext}}"; done; echo "${label}$n"`;

export const apacheProbe: Probe<ApacheState> = probe(
  `${names('mods', '/etc/apache2/mods-enabled', '.load')}; ${names('confs', '/etc/apache2/conf-enabled', '.conf')}`,
  (out) => {
    const line = (k: string) =>
      (out.split('\n').find((l) => l.startsWith(k + ' ')) ?? '').split(' ').slice(1).filter(Boolean);
    return { mods: line('mods'), confs: line('confs') };
  },
  { id: 'apache' },
);

export function apacheChanges(state: ApacheState, mods: string[], confs: string[], notMods: string[] = []): Change[] {
  return [
    ...mods
      .filter((m) => !state.mods.includes(m))
      .map((name) => ({ kind: 'apache-mod', name, action: 'enable' }) as const),
    ...notMods
      .filter((m) => state.mods.includes(m))
      .map((name) => ({ kind: 'apache-mod', name, action: 'disable' }) as const),
    ...confs
      .filter((c) => !state.confs.includes(c))
      .map((name) => ({ kind: 'apache-conf', name, action: 'enable' }) as const),
  ];
}

/** a2dismod/a2enmod/a2enconf for the listed changes, then apache's own config test. */
export async function applyApache(ctx: StepContext, changes: Change[]): Promise<void> {
  const names = (cs: { name: string }[]) => cs.map((c) => c.name);
  const dis = names(ofKind(changes, 'apache-mod', 'disable'));
  if (dis.length) await ctx.host.exec(['a2dismod', '-q', '-f', ...dis], { sudo: true });
  const mods = names(ofKind(changes, 'apache-mod', 'enable'));
  if (mods.length) await ctx.host.exec(['a2enmod', '-q', ...mods], { sudo: true });
  const confs = names(ofKind(changes, 'apache-conf', 'enable'));
  if (confs.length) await ctx.host.exec(['a2enconf', '-q', ...confs], { sudo: true });
}

export async function apacheConfigTest(ctx: StepContext): Promise<void> {
  await ctx.host.exec(['apache2ctl', 'configtest'], { sudo: true });
}
