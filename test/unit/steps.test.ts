import { describe, expect, it } from 'vitest';
import { fakeContext, factsFixture, type HostFixture } from '../support/fake-host.js';
import { render } from '../../src/render/template.js';
import { UserError } from '../../src/errors.js';
import preflight from '../../steps/preflight.js';
import packages, { labPackages } from '../../steps/packages.js';
import dtrace, { dropinMtimes } from '../../steps/dtrace.js';
import sampleApp from '../../steps/sample-app.js';
import php, { ABSENT_PAGE } from '../../steps/php.js';
import { MEMCACHED_PORT } from '../../src/lab/layout.js';
import { changeLabel } from '../../src/runner/types.js';

const deb = factsFixture('debian-12-sandbox');
const DROPIN = render('etc/systemd/system/UNIT.d/ebpf-lab-dtrace.conf', {});
const dtraceEnv = { env: { USE_ZEND_DTRACE: '1' } };

describe('preflight', () => {
  it('refuses an unsupported OS with a user error, before any change', async () => {
    const { ctx, host } = fakeContext({ facts: factsFixture('centos-9-nobtf') });
    await expect(preflight.check(ctx)).rejects.toThrow(UserError);
    await expect(preflight.check(ctx)).rejects.toThrow(/CentOS Stream 9.*not supported/);
    expect(host.calls).toEqual([]);
  });
  it('refuses a kernel without BTF', async () => {
    const { ctx } = fakeContext({ facts: { ...deb, btf: false } });
    await expect(preflight.check(ctx)).rejects.toThrow(/no BTF/);
  });
  it('waits for cloud-init and the dpkg lock on a fresh Ubuntu, writes the apt and needrestart drop-ins', async () => {
    const { ctx } = fakeContext({
      facts: factsFixture('ubuntu-22.04-sandbox-fresh'),
      other: { 'cloud-init-status': 'status: running', 'apt-busy': '1234 unattended-upgr', needrestart: true },
    });
    const { changes } = await preflight.check(ctx);
    expect(changes.map((c) => `${c.action} ${changeLabel(c)}`)).toEqual([
      'wait cloud-init',
      'wait dpkg-lock',
      'create file:/etc/apt/apt.conf.d/90ebpf-lab',
      'create file:/etc/needrestart/conf.d/90-ebpf-lab.conf',
    ]);
  });
  it('is unchanged, with a reason, on a ready host', async () => {
    const fx: HostFixture = {
      facts: deb,
      files: { '/etc/apt/apt.conf.d/90ebpf-lab': { content: render('etc/apt/apt.conf.d/90ebpf-lab', {}) } },
      other: { 'cloud-init-status': '', 'apt-busy': '', needrestart: false },
    };
    const r = await preflight.check(fakeContext(fx).ctx);
    expect(r.changes).toEqual([]);
    expect(r.notes[0]).toMatch(/Debian 12.*BTF/);
  });
});

describe('packages', () => {
  it('installs exactly the missing packages in one apt-get call, non-interactively', async () => {
    const want = labPackages(deb);
    const { ctx, host } = fakeContext(
      { facts: deb, installed: want.filter((p) => p !== 'clang' && p !== 'php-fpm') },
      {
        rules: [
          {
            match: /^apt-cache policy/,
            result: { stdout: want.map((p) => `${p}:\n  Installed: (none)\n  Candidate: 1.0\n`).join('') },
          },
        ],
      },
    );
    const { changes } = await packages.check(ctx);
    expect(changes).toEqual([
      { kind: 'package', name: 'clang', action: 'install' },
      { kind: 'package', name: 'php-fpm', action: 'install' },
    ]);
    await packages.apply(ctx, changes);
    const install = host.calls.find((c) => c.kind === 'exec' && / install /.test(c.command));
    expect(install?.kind === 'exec' && install.command).toMatch(
      /apt-get .*DPkg::Lock::Timeout=300.* install -y -q --no-install-recommends clang php-fpm$/,
    );
    expect(install?.kind === 'exec' && install.env).toMatchObject({
      DEBIAN_FRONTEND: 'noninteractive',
      NEEDRESTART_MODE: 'a',
    });
    expect(host.log().some((c) => / update/.test(c))).toBe(false); // apt knew both packages
  });
  it('asks apt-cache policy only about alternatives: none on Debian, the bpftool choices on Ubuntu', async () => {
    const asked = async (facts: ReturnType<typeof factsFixture>) => {
      const { ctx } = fakeContext({ facts, installed: 'all' });
      const scripts: string[] = [];
      const probe = ctx.probe;
      ctx.probe = (p) => {
        scripts.push(...Object.values(p).map((x) => x.script));
        return probe(p);
      };
      expect((await packages.check(ctx)).changes).toEqual([]);
      return scripts.filter((x) => x.includes('apt-cache'));
    };
    expect(await asked(deb)).toEqual([]);
    const ubuntu = factsFixture('ubuntu-22.04-sandbox');
    expect(await asked(ubuntu)).toEqual([
      `apt-cache policy linux-tools-${ubuntu.kernel} bpftool linux-tools-generic-hwe-22.04 linux-tools-generic 2>/dev/null; true`,
    ]);
  });

  it('runs apt-get update first when apt does not know a package (fresh image, empty lists)', async () => {
    const { ctx, host } = fakeContext(
      { facts: deb, installed: [] },
      { rules: [{ match: /^apt-cache policy/, result: { stdout: '' } }] },
    );
    const { changes } = await packages.check(ctx);
    await packages.apply(ctx, changes);
    const log = host.log();
    const upd = log.findIndex((c) => / update -q$/.test(c));
    const inst = log.findIndex((c) => / install -y/.test(c));
    expect(upd).toBeGreaterThan(-1);
    expect(inst).toBeGreaterThan(upd);
  });
  it('is unchanged when everything is installed', async () => {
    const r = await packages.check(fakeContext({ facts: deb, installed: 'all' }).ctx);
    expect(r).toEqual({ changes: [], notes: ['all 19 packages installed'] });
  });
});

describe('dtrace', () => {
  const dropins = {
    '/etc/systemd/system/apache2.service.d/ebpf-lab-dtrace.conf': { content: DROPIN },
    '/etc/systemd/system/php8.2-fpm.service.d/ebpf-lab-dtrace.conf': { content: DROPIN },
  };
  const mtimes = { 'dropin-mtimes': { 'apache2.service': 1_000, 'php8.2-fpm.service': 1_000 } };

  it("reads both drop-ins' mtimes with one stat, each line by its file name; a missing one is 0", () => {
    const p = dropinMtimes(deb);
    expect(p.script.match(/stat /g)).toHaveLength(1);
    const out = '1796615799.480665072 /etc/systemd/system/php8.2-fpm.service.d/ebpf-lab-dtrace.conf';
    expect(p.parse(out, 0)).toEqual({ 'apache2.service': 0, 'php8.2-fpm.service': Number('1796615799.480665072') });
  });

  it('writes both drop-ins, marks the restarts pending first, reloads systemd and restarts', async () => {
    const { ctx, host } = fakeContext({ facts: deb, other: mtimes });
    const { changes } = await dtrace.check(ctx);
    expect(changes.map((c) => `${c.action} ${changeLabel(c)}`)).toEqual([
      'create file:/etc/systemd/system/apache2.service.d/ebpf-lab-dtrace.conf',
      'create file:/etc/systemd/system/php8.2-fpm.service.d/ebpf-lab-dtrace.conf',
      'restart unit:apache2.service',
      'restart unit:php8.2-fpm.service',
    ]);
    await dtrace.apply(ctx, changes);
    const log = host.log();
    const mark = log.findIndex((c) =>
      c.includes(
        'touch /var/lib/ebpf-lab/pending/restart@apache2.service /var/lib/ebpf-lab/pending/restart@php8.2-fpm.service',
      ),
    );
    const put = log.indexOf('put /etc/systemd/system/apache2.service.d/ebpf-lab-dtrace.conf');
    const reload = log.indexOf('systemctl daemon-reload');
    const restart = log.indexOf('systemctl restart apache2.service');
    const clear = log.findIndex((c) => c.startsWith('rm -f /var/lib/ebpf-lab/pending/restart@apache2.service'));
    expect([mark, put, reload, restart, clear].every((i) => i >= 0)).toBe(true);
    expect(mark < put && put < reload && reload < restart && restart < clear).toBe(true);
    expect(host.files.get('/etc/systemd/system/php8.2-fpm.service.d/ebpf-lab-dtrace.conf')?.content).toContain(
      'Environment=USE_ZEND_DTRACE=1',
    );
  });

  it('restarts after an interrupted run left a pending marker, though the drop-in is already right', async () => {
    const { ctx } = fakeContext({
      facts: deb,
      files: dropins,
      pending: ['restart@php8.2-fpm.service'],
      units: { 'apache2.service': dtraceEnv, 'php8.2-fpm.service': dtraceEnv },
      other: mtimes,
    });
    const { changes } = await dtrace.check(ctx);
    expect(changes).toEqual([
      {
        kind: 'unit',
        unit: 'php8.2-fpm.service',
        action: 'restart',
        detail: 'pending from an earlier run that was interrupted',
      },
    ]);
  });

  it('restarts a master that runs without the variable (started outside systemd, say)', async () => {
    const { ctx } = fakeContext({
      facts: deb,
      files: dropins,
      units: { 'php8.2-fpm.service': dtraceEnv },
      other: mtimes,
    });
    const { changes } = await dtrace.check(ctx);
    expect(changes).toEqual([
      {
        kind: 'unit',
        unit: 'apache2.service',
        action: 'restart',
        detail: 'running main process (pid 100) lacks USE_ZEND_DTRACE=1',
      },
    ]);
  });

  it('does not trust systemd Environment= for a php-fpm master older than its drop-in', async () => {
    const old = { env: { USE_ZEND_DTRACE: '1' }, envSource: 'systemd' as const, startedAt: 500 };
    const { ctx } = fakeContext({
      facts: deb,
      files: dropins,
      units: { 'apache2.service': dtraceEnv, 'php8.2-fpm.service': old },
      other: mtimes,
    });
    const { changes } = await dtrace.check(ctx);
    expect(changes.map(changeLabel)).toEqual(['unit:php8.2-fpm.service']);
  });

  it('is unchanged when drop-ins are right and masters carry the variable', async () => {
    const { ctx, host } = fakeContext({
      facts: deb,
      files: dropins,
      units: { 'apache2.service': dtraceEnv, 'php8.2-fpm.service': dtraceEnv },
      other: mtimes,
    });
    const r = await dtrace.check(ctx);
    expect(r.changes).toEqual([]);
    expect(r.notes[0]).toMatch(/carry USE_ZEND_DTRACE=1/);
    expect(host.calls).toEqual([]);
  });

  it('with --dtrace off removes the drop-ins and restarts', async () => {
    const { ctx } = fakeContext(
      {
        facts: deb,
        files: dropins,
        units: { 'apache2.service': dtraceEnv, 'php8.2-fpm.service': dtraceEnv },
        other: mtimes,
      },
      { options: { dtrace: false } },
    );
    const { changes } = await dtrace.check(ctx);
    expect(changes.map((c) => `${c.action} ${changeLabel(c)}`).sort()).toEqual([
      'delete file:/etc/systemd/system/apache2.service.d/ebpf-lab-dtrace.conf',
      'delete file:/etc/systemd/system/php8.2-fpm.service.d/ebpf-lab-dtrace.conf',
      'restart unit:apache2.service',
      'restart unit:php8.2-fpm.service',
    ]);
  });
});

describe('sample-app', () => {
  it('shows a unified diff for a page edited by hand and rewrites only that page', async () => {
    const pages = Object.fromEntries(
      ['index.php', 'mem.php', 'exception.php', 'error.php', 'path1/a.php', 'path2/a.php', 'phpinfo.php'].map((p) => [
        `/var/www/html/${p}`,
        { content: render(`var/www/html/${p}`, { memcachedPort: MEMCACHED_PORT }) },
      ]),
    );
    pages['/var/www/html/error.php'] = {
      content: pages['/var/www/html/error.php']!.content.replace('EBPF_LAB_UNDEFINED_CONSTANT', 'HAND_EDIT'),
    };
    const { ctx, host } = fakeContext({ facts: deb, files: pages });
    const { changes } = await sampleApp.check(ctx);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ kind: 'file', path: '/var/www/html/error.php', action: 'update' });
    expect(changes[0]!.detail).toMatch(/^--- \/var\/www\/html\/error\.php/);
    expect(changes[0]!.detail).toContain('-echo HAND_EDIT;');
    expect(changes[0]!.detail).toContain('+echo EBPF_LAB_UNDEFINED_CONSTANT;');
    await sampleApp.apply(ctx, changes);
    expect(host.log()).toEqual(['put /var/www/html/error.php']);
  });
  it('fixes a wrong mode without rewriting the file', async () => {
    const { ctx, host } = fakeContext({
      facts: deb,
      files: { '/var/www/html/index.php': { content: render('var/www/html/index.php', {}), mode: 0o666 } },
    });
    const { changes } = await sampleApp.check(ctx);
    expect(changes.find((c) => changeLabel(c) === 'file:/var/www/html/index.php')).toEqual({
      kind: 'file',
      path: '/var/www/html/index.php',
      action: 'chmod',
      detail: '666 -> 644',
    });
    await sampleApp.apply(
      ctx,
      changes.filter((c) => c.action === 'chmod'),
    );
    expect(host.log()).toEqual(['chmod 644 /var/www/html/index.php', 'chown root:root /var/www/html/index.php']);
  });
});

describe('php', () => {
  it('before PHP is installed (a plan on a fresh host) reports a deferred change instead of failing', async () => {
    const r = await php.check(fakeContext({ facts: factsFixture('ubuntu-22.04-sandbox-fresh') }).ctx);
    expect(r.changes).toEqual([
      { kind: 'step', step: 'php', action: 'configure', detail: 'after the packages step installs PHP' },
    ]);
  });
  it('renders the fpm location with the host PHP version and enables proxy_fcgi, restarting apache once', async () => {
    const { ctx } = fakeContext({
      facts: factsFixture('ubuntu-22.04-sandbox'),
      other: { apache: { mods: ['php8.1', 'mpm_prefork'], confs: [] } },
    });
    const { changes } = await php.check(ctx);
    const conf = changes.find((c) => changeLabel(c) === 'file:/etc/apache2/conf-available/ebpf-lab.conf');
    expect(conf?.detail).toContain('proxy:unix:/run/php/php8.1-fpm.sock|fcgi://localhost');
    expect(changes.filter((c) => changeLabel(c) === 'unit:apache2.service').map((c) => c.action)).toEqual(['restart']);
    expect(changes.map(changeLabel)).toEqual(
      expect.arrayContaining([
        'apache-mod:proxy_fcgi',
        'apache-conf:ebpf-lab',
        'file:/etc/php/8.1/fpm/conf.d/99-ebpf-lab.ini',
      ]),
    );
  });
  it('turns opcache on only when asked', async () => {
    const fx = {
      facts: deb,
      other: { apache: { mods: ['php8.2', 'mpm_prefork', 'proxy', 'proxy_fcgi'], confs: ['ebpf-lab'] } },
    };
    const off = await php.check(fakeContext(fx).ctx);
    const on = await php.check(fakeContext(fx, { options: { opcache: true } }).ctx);
    const ini = (r: typeof off) =>
      r.changes.find((c) => changeLabel(c) === 'file:/etc/php/8.2/apache2/conf.d/99-ebpf-lab.ini')?.detail ?? '';
    expect(ini(off)).toContain('+opcache.enable=0');
    expect(ini(on)).toContain('+opcache.enable=1');
  });
  it("verify asks apache for a page no step writes, not / (sample-app's index.php, a later step's file)", async () => {
    const evidence = async (http: string) => {
      const { ctx, host } = fakeContext(
        { facts: factsFixture('ubuntu-22.04-sandbox') },
        { rules: [{ match: /curl -s -m 10/, result: { stdout: `active active active \nsocket\n${http}` } }] },
      );
      const ev = await php.verify!(ctx);
      const script = host.calls.map((c) => (c.kind === 'exec' ? c.command : '')).find((c) => c.includes('curl'))!;
      expect(script).toContain(`http://127.0.0.1${ABSENT_PAGE}`);
      expect(script).not.toMatch(/http:\/\/127\.0\.0\.1\/(\s|$)/);
      return ev.find((e) => e.what === 'apache answers on port 80')!;
    };
    expect((await evidence('404')).ok).toBe(true);
    // A server error, or a page where none should be, is not apache answering as it should.
    expect((await evidence('500')).ok).toBe(false);
    expect((await evidence('200')).ok).toBe(false);
    expect((await evidence('000')).detail).toBe(`http 000 for ${ABSENT_PAGE}, a page no step writes (404 expected)`);
  });
});
