// Workshop mode end to end on real hosts. The one substitute is the Lightsail API
// (aws-sdk-client-mock over an in-memory account): its "instances" are two local sandboxes
// (systemd-nspawn Ubuntu 22.04, the blueprint it asks for; src/targets/sandbox.ts) whose SSH endpoints and host keys it
// reports. Key files, host-key pinning, ssh2, the runner, the real steps, the registry and
// the roster are all the real code.
import { execFile } from 'node:child_process';
import { copyFile, chmod, mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateInstancesCommand,
  DeleteInstanceCommand,
  DeleteKeyPairCommand,
  LightsailClient,
  type Instance,
  type KeyPair,
} from '@aws-sdk/client-lightsail';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeLightsailAccount } from '../support/lightsail-account.js';
import { sandboxPackages } from '../../steps/index.js';
import { UserError } from '../../src/errors.js';
import { DEFAULT_OPTIONS } from '../../src/options.js';
import { labTags } from '../../src/cloud/tags.js';
import { workshopCommand } from '../../src/commands/workshop.js';
import { lightsailDeps, resetLightsailDeps } from '../../src/targets/lightsail.js';
import { openLab } from '../../src/commands/lab-target.js';
import { sandboxDown, sandboxUp, type SandboxInfo } from '../../src/targets/sandbox.js';
import { readRegistry } from '../../src/state.js';

const cacheDir = process.env.EBPF_LAB_CACHE ?? '/var/tmp/ebpf-lab-cache';
const LABS = ['lab-01', 'lab-02'];
const ONLY = ['preflight', 'packages', 'php'];
const t0 = Date.now();
const stamp = () => `+${((Date.now() - t0) / 1000).toFixed(1)}s`;

const lightsail = mockClient(LightsailClient);
const client = new LightsailClient({ region: 'eu-central-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });

let sbHome: string;
let home: string;
const boxes = new Map<string, SandboxInfo>();
const instances = new Map<string, Instance>();
const keyPairs = new Map<string, KeyPair>();
/** Host keys the fake API reports per instance (swapped in the pinning test). */
const reportedKeys = new Map<string, string[]>();

/** The fake account: a created instance is pending once, then running at 127.0.0.1 as root. */
function fakeAccount(): void {
  fakeLightsailAccount(lightsail, {
    publicIp: () => '127.0.0.1',
    username: 'root',
    hostKeys: (n) => reportedKeys.get(n) ?? [],
    instances,
    keyPairs,
  });
}

function ssh(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('ssh', args, { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 255) : 0, stdout, stderr }),
    );
  });
}

describe('workshop mode end to end (Lightsail API substituted by aws-sdk-client-mock; instances are local sandboxes)', () => {
  const out: string[] = [];
  const write = (s: string) => {
    out.push(s);
    console.log(`[workshop ${stamp()}] ${s}`);
  };

  beforeAll(async () => {
    sbHome = await mkdtemp(join(tmpdir(), 'ebpf-lab-ws-sb-'));
    home = await mkdtemp(join(tmpdir(), 'ebpf-lab-ws-home-'));
    process.env['EBPF_LAB_HOME'] = home;
    // one after the other: the first builds (or reuses) the shared base image and repository
    for (const lab of LABS) {
      const info = await sandboxUp({
        name: `ws-${lab}`,
        home: sbHome,
        cacheDir,
        packages: sandboxPackages,
        log: (l) => console.log(`[sandbox ${stamp()}] ${l}`),
      });
      boxes.set(lab, info);
      reportedKeys.set(lab, info.hostKeys);
      // the "generated" lab key is the sandbox's root key: ensureKeyPair finds it and imports it
      await mkdir(join(home, 'keys'), { recursive: true, mode: 0o700 });
      await copyFile(info.keyPath, join(home, 'keys', `ebpf-lab-${lab}`));
      await chmod(join(home, 'keys', `ebpf-lab-${lab}`), 0o600);
    }
    console.log(
      `[workshop ${stamp()}] sandboxes ready: ${[...boxes].map(([l, b]) => `${l}=127.0.0.1:${b.port}`).join(', ')}`,
    );
    fakeAccount();
    // Not ours: must survive `workshop down`.
    instances.set('other-01', {
      name: 'other-01',
      state: { name: 'running' },
      publicIpAddress: '192.0.2.9',
      tags: labTags('other-01'),
    });
    instances.set('lab-03', { name: 'lab-03', state: { name: 'running' }, publicIpAddress: '192.0.2.8', tags: [] });
    Object.assign(lightsailDeps, {
      makeClient: () => client,
      instanceWait: { intervalMs: 200 },
      endpoint: (inst: { name: string }) => ({ host: '127.0.0.1', port: boxes.get(inst.name)!.port }),
    });
  });

  afterAll(async () => {
    resetLightsailDeps();
    lightsail.restore();
    for (const lab of LABS) await sandboxDown({ name: `ws-${lab}`, home: sbHome }).catch((e) => console.error(e));
    delete process.env['EBPF_LAB_HOME'];
    await rm(sbHome, { recursive: true, force: true });
    await rm(home, { recursive: true, force: true });
  });

  it('workshop up provisions both labs in parallel with the real runner and steps, pinning their host keys', async () => {
    const started = Date.now();
    const code = await workshopCommand(
      {
        sub: 'up',
        flags: { region: 'eu-central-1', count: '2', yes: true },
        only: ONLY,
        options: DEFAULT_OPTIONS,
        output: 'plain',
      },
      write,
    );
    const secs = (Date.now() - started) / 1000;
    for (const lab of LABS)
      console.log(`----- ${lab}.log\n${await readFile(join(home, 'workshop', 'lab', `${lab}.log`), 'utf8')}`);
    console.log(`[workshop] up of ${LABS.length} labs (${ONLY.join(',')}) took ${secs.toFixed(1)} s`);
    expect(code).toBe(0);
    expect(
      lightsail
        .commandCalls(CreateInstancesCommand)
        .map((c) => c.args[0].input.instanceNames![0])
        .sort(),
    ).toEqual(LABS);
    // What it asked Lightsail for is what the stand-in instances are: Ubuntu 22.04.
    expect(lightsail.commandCalls(CreateInstancesCommand).map((c) => c.args[0].input.blueprintId)).toEqual([
      'ubuntu_22_04',
      'ubuntu_22_04',
    ]);
    expect([...boxes.values()].map((b) => b.os)).toEqual(['ubuntu-22.04', 'ubuntu-22.04']);
    // parallel: the second lab started before the first one finished
    const firstOk = out.findIndex((l) => /^lab-0[12]: ok/.test(l));
    expect(out.findIndex((l) => l === 'lab-01: starting')).toBeLessThan(firstOk);
    expect(out.findIndex((l) => l === 'lab-02: starting')).toBeLessThan(firstOk);
    for (const lab of LABS) {
      const log = await readFile(join(home, 'workshop', 'lab', `${lab}.log`), 'utf8');
      expect(log).toMatch(new RegExp(`${lab}: pinning \\d+ host key\\(s\\) reported by Lightsail`));
      expect(log).toMatch(/host key SHA256:\S+ \(record\)/);
      expect(log).toMatch(/^ok: /m);
      expect(log).toMatch(/^. php\s+(changed|unchanged)/m);
    }
    const reg = (await readRegistry()).labs;
    for (const lab of LABS)
      expect(reg[`lightsail:${lab}`]).toMatchObject({
        kind: 'lightsail',
        region: 'eu-central-1',
        host: '127.0.0.1',
        port: boxes.get(lab)!.port,
        user: 'root',
        lastRun: { ok: true },
      });
    const known = await readFile(join(home, 'known_hosts'), 'utf8');
    for (const lab of LABS)
      for (const k of boxes.get(lab)!.hostKeys)
        expect(known).toContain(`[127.0.0.1]:${boxes.get(lab)!.port} ${k.split(' ').slice(0, 2).join(' ')}`);
  });

  it('a host key that differs from the one Lightsail reports stops the connection', async () => {
    reportedKeys.set('lab-01', boxes.get('lab-02')!.hostKeys);
    try {
      const err = await openLab({ target: 'lightsail:lab-01' }, { create: false, log: () => {} }).catch((e) => e);
      expect(err).toBeInstanceOf(UserError);
      expect(err.message).toMatch(/does not match the pinned key/);
    } finally {
      reportedKeys.set('lab-01', boxes.get('lab-01')!.hostKeys);
    }
  });

  it('a re-run has nothing left to do', async () => {
    out.length = 0;
    expect(
      await workshopCommand(
        {
          sub: 'up',
          flags: { region: 'eu-central-1', count: '2' },
          only: ONLY,
          options: DEFAULT_OPTIONS,
          output: 'plain',
        },
        write,
      ),
    ).toBe(0);
    expect(out).toContain('every lab is ready; nothing to do (`ebpf-lab workshop roster` lists them)');
    expect(lightsail.commandCalls(CreateInstancesCommand)).toHaveLength(2);
  });

  it('roster has one row per lab with the right address, port and a working SSH command', async () => {
    out.length = 0;
    expect(
      await workshopCommand({ sub: 'roster', flags: { region: 'eu-central-1' }, options: DEFAULT_OPTIONS }, write),
    ).toBe(0);
    const csv = (await readFile(join(home, 'workshop', 'lab', 'roster.csv'), 'utf8')).trim().split('\r\n');
    expect(csv).toHaveLength(3);
    for (const [i, lab] of LABS.entries()) {
      const { port } = boxes.get(lab)!;
      const key = join(home, 'keys', `ebpf-lab-${lab}`);
      expect(csv[i + 1]).toBe(`${lab},127.0.0.1,http://127.0.0.1:3000/,,ssh -i ${key} -p ${port} root@127.0.0.1`);
      // the command works as printed, against the host keys pinned during `up`
      const r = await ssh([
        '-i',
        key,
        '-p',
        String(port),
        '-o',
        'BatchMode=yes',
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        `UserKnownHostsFile=${join(home, 'known_hosts')}`,
        '-o',
        'GlobalKnownHostsFile=/dev/null',
        'root@127.0.0.1',
        'php -r "echo PHP_VERSION;"',
      ]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^8\.\d+\.\d+(-\S+)?$/); // Ubuntu's carries its package revision: 8.1.2-1ubuntu2.22
    }
    const md = await readFile(join(home, 'workshop', 'lab', 'roster.md'), 'utf8');
    expect(md.split('\n').filter((l) => l.startsWith('| lab-0'))).toHaveLength(2);
  });

  it('workshop down deletes both labs and their key pairs, and nothing else', async () => {
    out.length = 0;
    expect(
      await workshopCommand(
        { sub: 'down', flags: { region: 'eu-central-1', yes: true }, options: DEFAULT_OPTIONS },
        write,
      ),
    ).toBe(0);
    expect(
      lightsail
        .commandCalls(DeleteInstanceCommand)
        .map((c) => c.args[0].input.instanceName)
        .sort(),
    ).toEqual(LABS);
    expect(
      lightsail
        .commandCalls(DeleteKeyPairCommand)
        .map((c) => c.args[0].input.keyPairName)
        .sort(),
    ).toEqual(LABS.map((l) => `ebpf-lab-${l}`));
    expect([...instances.keys()].sort()).toEqual(['lab-03', 'other-01']);
    expect((await readRegistry()).labs).toEqual({});
  });
});
