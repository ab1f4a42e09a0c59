import { quote, quoteArgv } from '../transports/quote.js';
import { probe, type Probe } from './probe.js';
import type { Change, StepContext } from '../runner/types.js';

const DPKG_STATUS = `dpkg-query -W -f='\${Package}\\t\${db:Status-Abbrev}\\n'`;

/** Installed state of each package, from dpkg's database (no apt lists needed). */
export function packagesProbe(names: string[]): Probe<Record<string, boolean>> {
  return probe(
    `${DPKG_STATUS} ${quoteArgv(names)} 2>/dev/null; true`,
    (out) => {
      const installed: Record<string, boolean> = Object.fromEntries(names.map((n) => [n, false]));
      for (const line of out.split('\n')) {
        const [name, status] = line.split('\t');
        if (name && status?.startsWith('ii')) installed[name.replace(/:.*$/, '')] = true;
      }
      return installed;
    },
    { id: 'packages', args: names },
    { kind: 'packages', item: names.join(' '), script: packagesScript },
    DPKG_DB_FINGERPRINT,
  );
}

/**
 * A fingerprint of everything `dpkg-query -W` answers from, for packagesProbe (see
 * Probe.fingerprint): dpkg's database, which is the status file, the journal of changes not
 * yet folded into it (the files in updates/), and the architectures (arch) that qualify
 * names. dpkg replaces status by renaming a new one into place (a new inode and mtime), and
 * adds and removes journal files (a new mtime for updates/), whatever installs or removes a
 * package (apt, dpkg, a tool on top); an edit in place changes the file's mtime (to the
 * nanosecond) or size. So while none of these has changed, neither has any package's state.
 * One `stat`, against dpkg-query's reading and parsing of the whole status file.
 */
export const DPKG_DB_FINGERPRINT =
  "stat -c '%n %s %.9Y %i' -- /var/lib/dpkg/status /var/lib/dpkg/updates /var/lib/dpkg/arch 2>/dev/null; true";

/**
 * packagesProbe's batch: one dpkg-query for every step's packages. dpkg-query prints its
 * lines in its database's order, whatever order the names come in, so an item's lines,
 * picked from the whole list in that order, are what its own dpkg-query prints. Picking is
 * a `case` in the shell, not a process.
 */
function packagesScript(items: string[], mark: string): string {
  const all = [...new Set(items.flatMap((i) => i.split(' ')))];
  const pick = items.map((item, i) => `echo "${mark} ${i}"; pick ${quote(` ${item} `)}`).join('\n');
  return [
    // Lines are cut from the string, not `read` (a system call per byte) in a pipe.
    "nl='\n'",
    `all=$(${DPKG_STATUS} ${quoteArgv(all)} 2>/dev/null)`,
    'pick() {',
    '  rest=$all$nl',
    '  while [ -n "$rest" ]; do',
    '    l=${rest%%"$nl"*}',
    '    rest=${rest#*"$nl"}',
    '    p=${l%%\t*}',
    `    [ -n "$l" ] && case $1 in *" \${p%%:*} "*) printf '%s\\n' "$l" ;; esac`,
    '  done',
    '}',
    pick,
  ].join('\n');
}

/** dpkg left half-configured by an interrupted run: `dpkg --audit` prints something. */
export const dpkgAuditProbe: Probe<string> = probe('dpkg --audit 2>&1 | head -5', (out) => out.trim(), {
  id: 'dpkg-audit',
});

export function packageChanges(installed: Record<string, boolean>): Change[] {
  return Object.entries(installed)
    .filter(([, ok]) => !ok)
    .map(([name]) => ({ kind: 'package', name, action: 'install' }));
}

/** Non-interactive apt, whatever the host: no prompts, no needrestart dialog, lock waits. */
export const APT_ENV = {
  DEBIAN_FRONTEND: 'noninteractive',
  NEEDRESTART_MODE: 'a',
  NEEDRESTART_SUSPEND: '1',
  APT_LISTCHANGES_FRONTEND: 'none',
};
const APT_OPTS = [
  '-o',
  'DPkg::Lock::Timeout=300',
  '-o',
  'Dpkg::Options::=--force-confdef',
  '-o',
  'Dpkg::Options::=--force-confold',
];

/**
 * Installs packages in one apt-get call. Runs `apt-get update` first only when apt
 * does not know a wanted package (not by list age: a fresh image has empty lists
 * with a new mtime), and repairs dpkg if an earlier run was cut mid-install.
 */
export async function installPackages(ctx: StepContext, names: string[]): Promise<void> {
  if (names.length === 0) return;
  const audit = await ctx.host.exec({ script: 'dpkg --audit 2>&1 | head -1' }, { sudo: true, nothrow: true });
  if (audit.stdout.trim() !== '') {
    ctx.progress('repairing dpkg state left by an interrupted run (dpkg --configure -a)');
    await ctx.host.exec(['dpkg', '--configure', '-a'], { sudo: true, env: APT_ENV, timeoutMs: 1_800_000 });
  }
  const policy = await ctx.host.exec(['apt-cache', 'policy', ...names], { sudo: true, nothrow: true });
  const unknown = packagesWithoutCandidate(policy.stdout, names);
  if (unknown.length) {
    ctx.progress(
      `apt-get update (apt does not know ${unknown.slice(0, 3).join(', ')}${unknown.length > 3 ? ', …' : ''})`,
    );
    await withAptRetry(ctx, ['apt-get', ...APT_OPTS, 'update', '-q']);
  }
  ctx.progress(`apt-get install ${names.join(' ')}`);
  await withAptRetry(ctx, ['apt-get', ...APT_OPTS, 'install', '-y', '-q', '--no-install-recommends', ...names]);
}

async function withAptRetry(ctx: StepContext, argv: string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const r = await ctx.host.exec(argv, {
      sudo: true,
      env: APT_ENV,
      timeoutMs: 1_800_000,
      nothrow: true,
      onOutput: (chunk) => {
        const line = chunk.trim().split('\n').pop();
        if (line) ctx.progress(line.slice(0, 120));
      },
    });
    if (r.exitCode === 0) return;
    const transient = /Could not get lock|Temporary failure|Failed to fetch|Unable to lock|Hash Sum mismatch/.test(
      r.stderr + r.stdout,
    );
    if (!transient || attempt >= 3) {
      const { CommandError } = await import('../errors.js');
      throw new CommandError(r, ctx.host.name, ctx.stepId);
    }
    ctx.progress(`apt-get failed transiently (attempt ${attempt}), retrying`);
    await new Promise((res) => setTimeout(res, 5000 * attempt));
  }
}

/** Packages `apt-cache policy` does not list, or lists with `Candidate: (none)`. */
export function packagesWithoutCandidate(policyOut: string, names: string[]): string[] {
  const candidate = new Map<string, string>();
  let cur: string | undefined;
  for (const line of policyOut.split('\n')) {
    const head = /^(\S+):$/.exec(line);
    if (head) cur = head[1];
    const c = /^\s+Candidate: (.+)$/.exec(line);
    if (c && cur) candidate.set(cur, c[1]!.trim());
  }
  return names.filter((n) => !candidate.has(n) || candidate.get(n) === '(none)');
}

/**
 * `apt-get <args>` with the same non-interactive environment, lock wait and conffile
 * options as {@link installPackages}, retried on transient failures. For steps that need
 * a pinned version (`install pkg=1.2.3`) or an explicit `update` after adding a repository.
 */
export async function aptGet(ctx: StepContext, args: string[]): Promise<void> {
  await withAptRetry(ctx, ['apt-get', ...APT_OPTS, ...args]);
}

/**
 * Resolves alternatives: `a|b|c` becomes the first of a, b, c that `apt-cache policy`
 * gives a candidate; a plain name stays as it is. `unresolved` lists the groups none of
 * whose members apt knows (stale or empty lists: update, then resolve again).
 */
export function resolveAlternatives(
  policyOut: string,
  wanted: readonly string[],
): { packages: string[]; unresolved: string[] } {
  const members = wanted.flatMap((w) => w.split('|'));
  const unknown = new Set(packagesWithoutCandidate(policyOut, members));
  const packages: string[] = [];
  const unresolved: string[] = [];
  for (const w of wanted) {
    if (!w.includes('|')) {
      packages.push(w);
      continue;
    }
    const pick = w.split('|').find((n) => !unknown.has(n));
    if (pick) packages.push(pick);
    else {
      unresolved.push(w);
      packages.push(w.split('|')[0]!);
    }
  }
  return { packages: [...new Set(packages)], unresolved };
}

/** Every package name in `wanted`, alternatives split. */
export const alternativeMembers = (wanted: readonly string[]) => [...new Set(wanted.flatMap((w) => w.split('|')))];

/**
 * A fingerprint of everything `apt-cache policy` answers from, for its probe (see
 * Probe.fingerprint): apt builds its candidates from the package lists in /var/lib/apt/lists,
 * dpkg's database of installed packages (status, and the architectures in arch) and its own
 * configuration under /etc/apt (sources, pins in preferences, apt.conf.d). apt and dpkg
 * replace these files by renaming a new one into place (a new inode, and a new mtime for the
 * directory), and an edit in place changes a file's mtime (to the nanosecond) or size: so
 * while none of the sizes, mtimes and inodes below has changed, neither has apt's answer.
 * One `stat`, against apt-cache's ~35 ms of loading its cache.
 */
export const APT_INPUTS_FINGERPRINT =
  "stat -c '%n %s %.9Y %i' -- /var/lib/dpkg/status /var/lib/dpkg/arch /var/lib/apt/lists /var/lib/apt/lists/* /etc/apt /etc/apt/* /etc/apt/*/* 2>/dev/null; true";
