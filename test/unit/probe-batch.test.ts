import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileProbe, sha256 } from '../../src/resources/files.js';
import { packagesProbe } from '../../src/resources/apt.js';
import { readScripts, type Readable } from '../../src/resources/probe.js';
import type { Transport } from '../../src/transports/transport.js';

// Probes read in one batch must answer exactly as each probe's own script does: both run
// here with sh on real files, through readScripts as a host would run them.
const dir = mkdtempSync(join(tmpdir(), 'ebpf-lab-batch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let scriptsRun: string[] = [];
const local = {
  name: 'here',
  exec: async (cmd: { script: string }) => {
    scriptsRun.push(cmd.script);
    const r = spawnSync('sh', ['-c', cmd.script], { encoding: 'utf8', maxBuffer: 64 << 20 });
    return { command: 'sh', exitCode: r.status ?? 1, stdout: r.stdout, stderr: r.stderr, durationMs: 0 };
  },
} as unknown as Transport;

const alone = (p: Readable): Readable => ({ script: p.script });

/** How many runs a counting script recorded in `file` (one line each), as `wc -l` prints it. */
const runsIn = (file: string): string =>
  spawnSync('sh', ['-c', `cat ${file} 2>/dev/null | wc -l`], { encoding: 'utf8' }).stdout.trim();

describe('probe batches: one script for many files, the same answers', () => {
  const wanted = 'wanted content\n';
  const f = (name: string) => join(dir, name);
  writeFileSync(f('as wanted.conf'), wanted, { mode: 0o640 });
  writeFileSync(f('edited'), 'edited by hand\n');
  writeFileSync(f('empty'), '');
  writeFileSync(f('big'), 'x'.repeat(300 * 1024));
  writeFileSync(f("it's|odd $x"), wanted);
  writeFileSync(f('back\\slash'), wanted); // sha256sum escapes this name
  symlinkSync(f('edited'), f('link'));
  mkdirSync(f('a directory'));
  spawnSync('mkfifo', [f('fifo')]);
  const probes = [
    fileProbe(f('as wanted.conf'), true, sha256(wanted)),
    fileProbe(f('edited'), true, sha256(wanted)),
    fileProbe(f('edited'), false, sha256(wanted)),
    fileProbe(f('edited'), true),
    fileProbe(f('empty'), true, sha256(wanted)),
    fileProbe(f('big'), true, sha256(wanted)),
    fileProbe(f("it's|odd $x"), true, sha256(wanted)),
    fileProbe(f('link'), true, sha256(wanted)),
    fileProbe(f('a directory'), true, sha256(wanted)),
    fileProbe(f('fifo'), true, sha256(wanted)),
    fileProbe(f('missing'), true, sha256(wanted)),
    // Read in step with stat's and sha256sum's lines: a missing path between present ones, an
    // escaped name, and a path asked for twice.
    fileProbe(f('missing too'), true, sha256(wanted)),
    fileProbe(f('back\\slash'), true, sha256(wanted)),
    fileProbe(f('as wanted.conf'), true, sha256(wanted)),
    fileProbe(f('edited'), true, sha256(wanted)),
  ];

  it('every file kind: the batch prints what each probe prints alone', async () => {
    const one = await readScripts(local, probes.map(alone));
    scriptsRun = [];
    const batch = await readScripts(local, probes);
    expect(batch).toEqual(one);
    expect(scriptsRun).toHaveLength(1);
    // One stat and one sha256sum for all of them, not a few processes per file.
    expect(scriptsRun[0]!.match(/sha256sum --/g)).toHaveLength(1);
    const parsed = probes.map((p, i) => p.parse(batch[i]!.body, batch[i]!.code));
    expect(parsed[0]).toMatchObject({ exists: true, sha256: sha256(wanted), mode: 0o640, content: undefined });
    expect(parsed[1]).toMatchObject({ exists: true, content: 'edited by hand\n' });
    expect(parsed[2]).toMatchObject({ exists: true, content: undefined });
    expect(parsed[3]).toMatchObject({ content: 'edited by hand\n' });
    expect(parsed[4]).toMatchObject({ exists: true, sha256: sha256('') });
    expect(parsed[5]).toMatchObject({ exists: true, sha256: sha256('x'.repeat(300 * 1024)), content: undefined });
    expect(parsed[6]).toMatchObject({ exists: true, sha256: sha256(wanted) });
    expect(parsed[7]).toEqual({ exists: false });
    expect(parsed[8]).toEqual({ exists: false, other: 'directory' });
    expect(parsed[9]).toEqual({ exists: false, other: 'fifo' });
    expect(parsed[10]).toEqual({ exists: false });
    expect(parsed[11]).toEqual({ exists: false });
    expect(parsed[12]).toMatchObject({ exists: true, sha256: sha256(wanted), content: undefined });
    expect(parsed[13]).toEqual(parsed[0]);
    expect(parsed[14]).toEqual(parsed[1]);
  });

  it('a probe of a batch kind read on its own answers as its own script, and mixed reads keep their order', async () => {
    const mixed: Readable[] = [{ script: 'echo first' }, probes[0]!, { script: 'echo last; exit 3' }, probes[1]!];
    const r = await readScripts(local, mixed);
    expect(r[0]).toEqual({ body: 'first', code: 0 });
    expect(r[2]).toEqual({ body: 'last', code: 3 });
    expect(r[1]).toEqual((await readScripts(local, [alone(probes[0]!)]))[0]);
    expect((await readScripts(local, [probes[0]!]))[0]).toEqual(r[1]);
    expect(r[3]).toEqual((await readScripts(local, [alone(probes[1]!)]))[0]);
  });
});

describe('probe batches: one systemctl show for many units, the same answers', () => {
  // A stand-in systemctl (no systemd here) answering both the single script's calls
  // (is-enabled, is-active, show -p X --value) and the batch's (show -p A,B -- units…) from one table.
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const table = `web.service enabled active ${process.pid} /web FOO=1 BAR=x
idle.service disabled inactive 0 /idle -
gone.service - inactive 0 - -`;
  writeFileSync(
    join(bin, 'systemctl'),
    `#!/bin/sh
row() { while read -r u e a p g v; do [ "$u" = "$1" ] && echo "$e $a $p $g $v" && return; done <<'T'
${table}
T
echo "- inactive 0 - -"; }
val() { [ "$1" = - ] && echo || echo "$1"; }
case $1 in
is-enabled) set -- $(row "$2"); [ "$1" = - ] && exit 1; echo "$1" ;;
is-active) set -- $(row "$2"); echo "$2" ;;
show)
  if [ "$4" = --value ]; then
    set -- "$3" $(row "$5")
    case $1 in MainPID) echo "$4" ;; ControlGroup) val "$5" ;; Environment) shift 5; [ "$1" = - ] && echo || echo "$*" ;; esac
  else
    shift 4; first=1
    for u in "$@"; do
      [ $first = 1 ] || echo; first=0
      set -- $(row "$u")
      e=$1; a=$2; p=$3; g=$4; shift 4
      echo "MainPID=$p"; echo "ControlGroup=$(val "$g")"; echo "UnitFileState=$( [ "$e" = - ] || echo "$e")"
      echo "ActiveState=$a"; echo "Environment=$( [ "$1" = - ] || echo "$*")"
    done
  fi ;;
esac
`,
    { mode: 0o755 },
  );
  const path = `${bin}:${process.env['PATH']}`;
  const withPath = {
    name: 'here',
    exec: async (cmd: { script: string }) => {
      const r = spawnSync('sh', ['-c', cmd.script], { encoding: 'utf8', env: { ...process.env, PATH: path } });
      return { command: 'sh', exitCode: r.status ?? 1, stdout: r.stdout, stderr: r.stderr, durationMs: 0 };
    },
  } as unknown as Transport;

  it('enablement, activity, main pid, its environment and Environment= as unit-state.sh reads them', async () => {
    const { unitsProbe } = await import('../../src/resources/systemd.js');
    const probes = [unitsProbe(['web.service', 'idle.service']), unitsProbe(['gone.service', 'web.service'])];
    const one = await readScripts(withPath, probes.map(alone));
    const batch = await readScripts(withPath, probes);
    const states = (raw: typeof one) => raw.map((r, i) => probes[i]!.parse(r.body, r.code));
    const [a, b] = states(batch);
    // The start time is computed at each read (to the millisecond): compare it loosely.
    const [a1, b1] = states(one);
    expect(Math.abs(a!['web.service']!.startedAt - a1!['web.service']!.startedAt)).toBeLessThan(1);
    for (const s of [a, b, a1, b1]) s!['web.service']!.startedAt = 0;
    expect([a, b]).toEqual([a1, b1]);
    expect(a!['web.service']).toMatchObject({
      enabled: 'enabled',
      active: 'active',
      mainPid: process.pid,
      envSource: 'proc',
    });
    expect(a!['web.service']!.env['PATH']).toBe(process.env['PATH']);
    expect(a!['idle.service']).toMatchObject({ enabled: 'disabled', active: 'inactive', mainPid: 0, env: {} });
    expect(b!['gone.service']).toMatchObject({ enabled: 'unknown', active: 'inactive', mainPid: 0 });
  });
});

describe("probe batches: one dpkg-query for every step's packages, the same answers", () => {
  // This machine's own dpkg database (Debian): installed, missing and unknown names, a name
  // in two items, names out of dpkg's order, and one item whose names are all unknown.
  const probes = [
    packagesProbe(['bash', 'coreutils']),
    packagesProbe(['zlib1g', 'bash', 'ebpf-lab-no-such-package']),
    packagesProbe(['ebpf-lab-no-such-package']),
    packagesProbe(['libc6', 'dpkg', 'apt', 'coreutils']),
  ];

  it('the batch prints what each probe prints alone, in one dpkg-query', async () => {
    const one = await readScripts(local, probes.map(alone));
    scriptsRun = [];
    const batch = await readScripts(local, probes);
    expect(batch).toEqual(one);
    expect(scriptsRun).toHaveLength(1);
    expect(scriptsRun[0]!.match(/dpkg-query/g)).toHaveLength(1);
    const parsed = probes.map((p, i) => p.parse(batch[i]!.body, batch[i]!.code));
    expect(parsed[1]).toEqual({ zlib1g: true, bash: true, 'ebpf-lab-no-such-package': false });
    expect(parsed[2]).toEqual({ 'ebpf-lab-no-such-package': false });
    expect(parsed[3]).toEqual({ libc6: true, dpkg: true, apt: true, coreutils: true });
  });
});

describe('fingerprinted probes: the probe runs only when its fingerprint changed', () => {
  const f = (name: string) => join(dir, `fp-${name}`);
  writeFileSync(f('fp'), 'one\n');
  writeFileSync(f('answer'), 'answer 1\n');
  const counted = (out: string) => `cat ${f('answer')}; echo ran >> ${f('count')}${out}`;
  const p: Readable = { script: counted(''), fingerprint: `cat ${f('fp')}` };
  const silent: Readable = { script: `echo ran >> ${f('count')}`, fingerprint: `cat ${f('fp')}` };
  const runs = () => runsIn(f('count'));

  it('no memo: runs it, and records the answer with its fingerprint', async () => {
    const memo = { read: {} };
    const [a, b] = await readScripts(local, [p, silent], [], memo);
    expect([a, b]).toEqual([
      { body: 'answer 1', code: 0 },
      { body: '', code: 0 },
    ]);
    expect(memo.read).toEqual({
      [p.script]: { fingerprint: 'one', body: 'answer 1', code: 0 },
      [silent.script]: { fingerprint: 'one', body: '', code: 0 },
    });
    expect(runs()).toBe('2');
  });

  it('the same fingerprint: the memo answers and the probe does not run; a changed one runs it', async () => {
    const known = { [p.script]: { fingerprint: 'one', body: 'answer 0 (memo)', code: 0 } };
    const memo = { known, read: {} };
    expect(await readScripts(local, [p], [], memo)).toEqual([{ body: 'answer 0 (memo)', code: 0 }]);
    expect(runs()).toBe('2');
    expect(memo.read).toEqual(known);
    writeFileSync(f('fp'), 'two\n');
    writeFileSync(f('answer'), 'answer 2\n');
    const again = { known, read: {} };
    expect(await readScripts(local, [p], [], again)).toEqual([{ body: 'answer 2', code: 0 }]);
    expect(runs()).toBe('3');
    expect(again.read).toEqual({ [p.script]: { fingerprint: 'two', body: 'answer 2', code: 0 } });
    // Without a memo to keep (step-by-step checks), the probe runs as it always did.
    expect(await readScripts(local, [p])).toEqual([{ body: 'answer 2', code: 0 }]);
    expect(runs()).toBe('4');
  });
});

describe('a fingerprinted batch: its one script runs only when the fingerprint its members share changed', () => {
  const f = (name: string) => join(dir, `fpb-${name}`);
  writeFileSync(f('fp'), 'one\n');
  // A batch of two items that prints each item's name and counts its runs.
  const batch = (item: string): Readable => ({
    script: `echo ${item}`,
    fingerprint: `cat ${f('fp')}`,
    batch: {
      kind: 'counted',
      item,
      script: (items, mark) =>
        `echo ran >> ${f('count')}\n` + items.map((it, i) => `echo "${mark} ${i}"; echo ${it}`).join('\n'),
    },
  });
  const [a, b] = [batch('a'), batch('b')];
  const runs = () => runsIn(f('count'));

  it('records each member with the fingerprint, answers from the memo while it holds, and runs again when it changes', async () => {
    const first = { read: {} };
    expect(await readScripts(local, [a, b], [], first)).toEqual([
      { body: 'a', code: 0 },
      { body: 'b', code: 0 },
    ]);
    expect(first.read).toEqual({
      [a.script]: { fingerprint: 'one', body: 'a', code: 0 },
      [b.script]: { fingerprint: 'one', body: 'b', code: 0 },
    });
    expect(runs()).toBe('1');
    const known = {
      [a.script]: { fingerprint: 'one', body: 'a (memo)', code: 0 },
      [b.script]: { fingerprint: 'one', body: 'b (memo)', code: 0 },
    };
    const second = { known, read: {} };
    expect(await readScripts(local, [a, b], [], second)).toEqual([
      { body: 'a (memo)', code: 0 },
      { body: 'b (memo)', code: 0 },
    ]);
    expect(second.read).toEqual(known);
    expect(runs()).toBe('1');
    // A member the memo lacks, or one read under another fingerprint: the batch runs.
    for (const partial of [
      { [a.script]: known[a.script]! },
      { ...known, [b.script]: { ...known[b.script]!, fingerprint: 'old' } },
    ]) {
      const third = { known: partial, read: {} };
      expect(await readScripts(local, [a, b], [], third)).toEqual([
        { body: 'a', code: 0 },
        { body: 'b', code: 0 },
      ]);
    }
    expect(runs()).toBe('3');
    writeFileSync(f('fp'), 'two\n');
    const changed = { known, read: {} };
    expect(await readScripts(local, [a, b], [], changed)).toEqual([
      { body: 'a', code: 0 },
      { body: 'b', code: 0 },
    ]);
    expect(changed.read).toEqual({
      [a.script]: { fingerprint: 'two', body: 'a', code: 0 },
      [b.script]: { fingerprint: 'two', body: 'b', code: 0 },
    });
    expect(runs()).toBe('4');
  });

  it("packages: dpkg's database fingerprinted, the same answers as dpkg-query, and no dpkg-query while it holds", async () => {
    const probes = [packagesProbe(['bash', 'ebpf-lab-no-such-package']), packagesProbe(['coreutils'])];
    const plain = await readScripts(local, probes);
    // dpkg-query counted: a wrapper first in PATH that runs the real one.
    mkdirSync(f('bin'));
    writeFileSync(f('bin/dpkg-query'), `#!/bin/sh\necho ran >> ${f('dpkg-runs')}\nexec /usr/bin/dpkg-query "$@"\n`, {
      mode: 0o755,
    });
    const dpkgRuns = () => runsIn(f('dpkg-runs'));
    const path = process.env['PATH'];
    process.env['PATH'] = `${f('bin')}:${path}`;
    try {
      const memo = { read: {} as Record<string, { fingerprint: string; body: string; code: number }> };
      expect(await readScripts(local, probes, [], memo)).toEqual(plain);
      expect(dpkgRuns()).toBe('1');
      expect(memo.read[probes[0]!.script]!.fingerprint).toMatch(/^\/var\/lib\/dpkg\/status \d+ \d+\.\d{9} \d+$/m);
      const again = { known: memo.read, read: {} };
      expect(await readScripts(local, probes, [], again)).toEqual(plain);
      expect(again.read).toEqual(memo.read);
      expect(dpkgRuns()).toBe('1');
    } finally {
      process.env['PATH'] = path;
    }
  });
});

describe('sections side by side: the same output as in turn, from four sections on', () => {
  const f = (name: string) => join(dir, `sbs-${name}`);
  mkdirSync(f('tmp'));
  // The first section waits (up to 1 s) for the last one to have started: together only when
  // they run at once. The others fail, print nothing, or lack their last newline.
  const probes = (flag: string): Readable[] => [
    {
      script: `i=0; while [ ! -e ${f(flag)} ] && [ $i -lt 100 ]; do sleep 0.01; i=$((i + 1)); done; [ -e ${f(flag)} ] && echo together || echo alone`,
    },
    { script: 'echo fast; exit 3' },
    { script: 'true' },
    { script: 'printf "no newline"' },
    { script: 'echo to stderr >&2; echo out' },
    { script: `touch ${f(flag)}; printf "a\\nb\\n"` },
  ];
  const want = (first: string) => [
    { body: first, code: 0 },
    { body: 'fast', code: 3 },
    { body: '', code: 0 },
    { body: 'no newline', code: 0 },
    { body: 'out', code: 0 },
    { body: 'a\nb', code: 0 },
  ];
  const withTmp = async <T>(tmp: string, fn: () => Promise<T>): Promise<T> => {
    const before = process.env['TMPDIR'];
    process.env['TMPDIR'] = tmp;
    try {
      return await fn();
    } finally {
      process.env['TMPDIR'] = before;
    }
  };

  it('runs them at once, prints them in order, and leaves no directory behind', async () => {
    scriptsRun = [];
    expect(await withTmp(f('tmp'), () => readScripts(local, probes('flag-1')))).toEqual(want('together'));
    expect(scriptsRun[0]).toMatch(/mktemp -d/);
    expect(readdirSync(f('tmp'))).toEqual([]);
    // Three sections: in turn, as before.
    scriptsRun = [];
    expect(await readScripts(local, probes('flag-2').slice(1, 4))).toEqual(want('').slice(1, 4));
    expect(scriptsRun[0]).not.toMatch(/mktemp/);
  });

  it("a section's output that cannot be written (here: the directory is a file): all again in turn, the same output", async () => {
    mkdirSync(f('bin'));
    writeFileSync(f('not-a-dir'), '');
    writeFileSync(f('bin/mktemp'), `#!/bin/sh\necho ${f('not-a-dir')}\n`, { mode: 0o755 });
    const path = process.env['PATH'];
    process.env['PATH'] = `${f('bin')}:${path}`;
    try {
      expect(await readScripts(local, probes('flag-4'))).toEqual(want('alone'));
    } finally {
      process.env['PATH'] = path;
    }
  });

  it('no temporary directory to be had: in turn, the same output', async () => {
    expect(await withTmp(f('no-such-dir'), () => readScripts(local, probes('flag-3')))).toEqual(want('alone'));
  });
});
