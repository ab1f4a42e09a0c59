// Substitute: the Lightsail API is aws-sdk-client-mock (it cannot be reached from CI); the SSH
// connection is a stub transport. Everything else (key files, registry, known_hosts) is real,
// in a temporary EBPF_LAB_HOME.
import { mkdtemp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { secretPath } from '../../src/secrets.js';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateInstancesCommand,
  DeleteInstanceCommand,
  DeleteKeyPairCommand,
  GetBundlesCommand,
  GetInstanceAccessDetailsCommand,
  GetInstanceCommand,
  GetInstancePortStatesCommand,
  GetKeyPairCommand,
  GetRegionsCommand,
  ImportKeyPairCommand,
  LightsailClient,
  NotFoundException,
  PutInstancePublicPortsCommand,
  TagResourceCommand,
  type Instance,
} from '@aws-sdk/client-lightsail';
import { mockClient } from 'aws-sdk-client-mock';
import ssh2 from 'ssh2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { labTags } from '../../src/cloud/tags.js';
import { readConfigFile, type LightsailFlags } from '../../src/targets/lightsail-inputs.js';
import { downCommand, statusCommand } from '../../src/commands/lab.js';
import { inquirer } from '../../src/commands/prompt.js';
import { parseTarget } from '../../src/targets/index.js';
import type { Interaction, Purpose } from '../../src/targets/target.js';
import {
  lightsailDeps,
  lightsailStatus,
  refreshLightsailLab,
  resetLightsailDeps,
  type LabEndpoint,
} from '../../src/targets/lightsail.js';
import { readRegistry, saveLab } from '../../src/state.js';
import type { Transport } from '../../src/transports/transport.js';

const lightsail = mockClient(LightsailClient);
const client = new LightsailClient({ region: 'eu-central-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
const notFound = () => new NotFoundException({ message: 'The Instance does not exist', $metadata: {} });
const IP = '198.51.100.10';
const hostKey = ssh2.utils.generateKeyPairSync('ed25519').public.split(' ');

function instance(name: string, over: Partial<Instance> = {}): { instance: Instance } {
  return {
    instance: {
      name,
      state: { code: 16, name: 'running' },
      publicIpAddress: IP,
      username: 'ubuntu',
      bundleId: 'small_3_0',
      blueprintId: 'ubuntu_22_04',
      sshKeyName: `ebpf-lab-${name}`,
      tags: labTags(name),
      ...over,
    },
  };
}

let home: string;
let connected: LabEndpoint[];
let logs: string[];
const log = (l: string) => logs.push(l);
/** The flags of the command line and the terminal, as a command passes them to the target. */
let flags: LightsailFlags;
let io: Interaction;
const open = async (target: string, purpose: Purpose) =>
  (await parseTarget(target).resolve(flags, { purpose, io })).open({
    create: purpose === 'create',
    packages: () => [],
    log,
  });

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'ebpf-lab-ls-'));
  process.env['EBPF_LAB_HOME'] = home;
  connected = [];
  logs = [];
  lightsail.reset();
  lightsail.on(GetRegionsCommand).resolves({
    regions: [{ name: 'eu-central-1', availabilityZones: [{ zoneName: 'eu-central-1a', state: 'available' }] }],
  });
  lightsail.on(GetBundlesCommand).resolves({
    bundles: [
      {
        bundleId: 'small_3_0',
        price: 12,
        ramSizeInGb: 2,
        isActive: true,
        supportedPlatforms: ['LINUX_UNIX'],
        publicIpv4AddressCount: 1,
      },
    ],
  });
  lightsail.on(GetKeyPairCommand).rejects(new NotFoundException({ message: 'no key pair', $metadata: {} }));
  lightsail.on(ImportKeyPairCommand).resolves({});
  lightsail.on(TagResourceCommand).resolves({});
  lightsail
    .on(GetInstancePortStatesCommand)
    .resolves({ portStates: [{ fromPort: 22, toPort: 22, protocol: 'tcp', state: 'open', cidrs: ['0.0.0.0/0'] }] });
  lightsail.on(PutInstancePublicPortsCommand).resolves({});
  lightsail
    .on(GetInstanceAccessDetailsCommand)
    .resolves({ accessDetails: { hostKeys: [{ algorithm: hostKey[0], publicKey: hostKey[1] }] } });
  lightsail.on(CreateInstancesCommand).resolves({ operations: [{ status: 'Started' }] });
  Object.assign(lightsailDeps, {
    makeClient: () => client,
    cloud: { sleep: async () => {} },
    portWait: { connect: async () => {} },
    connect: async (ep: LabEndpoint) => {
      connected.push(ep);
      return { name: `${ep.user}@${ep.host}`, close: async () => {} } as unknown as Transport;
    },
  });
  flags = { region: 'eu-central-1', yes: true };
  io = { isTTY: () => false, prompter: inquirer };
});

afterEach(async () => {
  resetLightsailDeps();
  delete process.env['EBPF_LAB_HOME'];
  await rm(home, { recursive: true, force: true });
});

const up = (name = 'lab-01') => open(`lightsail:${name}`, 'create');

describe('up --target lightsail', () => {
  it('creates: key pair (0600, imported, tagged), instance, waits through pending and running-before-IP, firewall, pinned host key', async () => {
    lightsail
      .on(GetInstanceCommand)
      .rejectsOnce(notFound()) // name check before anything is created
      .rejectsOnce(notFound()) // ensureInstance
      .resolvesOnce(instance('lab-01', { state: { name: 'pending' }, publicIpAddress: undefined }))
      .resolvesOnce(instance('lab-01', { publicIpAddress: undefined }))
      .resolves(instance('lab-01'));
    const { record, transport } = await up();
    await transport.close();

    const create = lightsail.commandCalls(CreateInstancesCommand);
    expect(create).toHaveLength(1);
    expect(create[0]!.args[0].input).toMatchObject({
      instanceNames: ['lab-01'],
      blueprintId: 'ubuntu_22_04',
      bundleId: 'small_3_0',
      keyPairName: 'ebpf-lab-lab-01',
      availabilityZone: 'eu-central-1a',
    });
    expect(lightsail.commandCalls(ImportKeyPairCommand)[0]!.args[0].input.keyPairName).toBe('ebpf-lab-lab-01');
    expect(lightsail.commandCalls(TagResourceCommand)[0]!.args[0].input.tags).toEqual(labTags('lab-01'));
    const keyPath = join(home, 'keys', 'ebpf-lab-lab-01');
    expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
    // running without an IP was waited out: the connection went to the IP
    expect(logs).toContain('lab-01: running without a public IP yet');
    expect(lightsail.commandCalls(GetInstanceCommand).length).toBe(5);
    expect(connected).toEqual([
      expect.objectContaining({
        host: IP,
        port: 22,
        user: 'ubuntu',
        keyPath,
        hostKeys: [hostKey.slice(0, 2).join(' ')],
        action: 'created',
      }),
    ]);
    const ports = lightsail.commandCalls(PutInstancePublicPortsCommand)[0]!.args[0].input.portInfos!;
    expect(ports.map((p) => p.fromPort)).toEqual([22, 80, 3000]);
    expect(logs.some((l) => /open to everyone/.test(l))).toBe(true);
    expect(record).toEqual({
      name: 'lightsail:lab-01',
      kind: 'lightsail',
      target: 'lightsail:lab-01',
      host: IP,
      port: 22,
      user: 'ubuntu',
      keyPath,
      region: 'eu-central-1',
      createdByUs: true,
    });
  });

  it('creating asks on a terminal with the cost, and needs --yes without one; adopting ours asks nothing', async () => {
    lightsail.on(GetInstanceCommand).rejects(notFound());
    flags = { region: 'eu-central-1' };
    const err = await up().catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toBe(
      'not creating Lightsail instance "lab-01" in eu-central-1, 1 × small_3_0 ($12.00/month each): $0.02/hour, $0.39/day for the fleet (USD, before data transfer) without confirmation; nothing was created',
    );
    expect(err.hint).toMatch(/--yes/);
    const asked: string[] = [];
    io = { isTTY: () => true, prompter: { ...inquirer, confirm: async (o) => (asked.push(o.message), false) } };
    await expect(up()).rejects.toThrow(/cancelled: nothing was created/);
    expect(asked).toHaveLength(1);
    expect(lightsail.commandCalls(CreateInstancesCommand)).toHaveLength(0);
    expect(lightsail.commandCalls(ImportKeyPairCommand)).toHaveLength(0);
    lightsail.on(GetInstanceCommand).resolves(instance('lab-01'));
    await up(); // exists and is ours: no question
    expect(asked).toHaveLength(1);
  });

  it('adopts an instance tagged as ours: no create, no firewall change when it matches, --allow-from honoured', async () => {
    flags = { region: 'eu-central-1', allowFrom: ['203.0.113.7'] };
    lightsail.on(GetInstanceCommand).resolves(instance('lab-01'));
    lightsail.on(GetInstancePortStatesCommand).resolves({
      portStates: [22, 80, 3000].map((p) => ({
        fromPort: p,
        toPort: p,
        protocol: 'tcp',
        state: 'open',
        cidrs: ['203.0.113.7/32'],
        ipv6Cidrs: [],
      })),
    });
    await up();
    expect(lightsail.commandCalls(CreateInstancesCommand)).toHaveLength(0);
    expect(lightsail.commandCalls(PutInstancePublicPortsCommand)).toHaveLength(0);
    expect(logs).toContain('lab-01: adopting the existing instance (tagged as ours)');
    expect(logs.some((l) => /open to everyone/.test(l))).toBe(false);
    expect(connected[0]!.action).toBe('adopted');
  });

  it('refuses a name taken by something that is not ours: UserError (exit 2), nothing created or imported', async () => {
    lightsail.on(GetInstanceCommand).resolves(instance('lab-01', { tags: [] }));
    const err = await up().catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/belongs to something that is not ebpf-lab; nothing was created/);
    expect(lightsail.commandCalls(CreateInstancesCommand)).toHaveLength(0);
    expect(lightsail.commandCalls(ImportKeyPairCommand)).toHaveLength(0);
    expect(existsSync(join(home, 'keys'))).toBe(false);
    expect(connected).toHaveLength(0);
  });

  it('refuses a bad bundle and a bad --allow-from before creating anything', async () => {
    lightsail.on(GetInstanceCommand).rejects(notFound());
    flags = { region: 'eu-central-1', bundle: 'huge_9_9' };
    await expect(up()).rejects.toThrow(/"huge_9_9" is not an active Linux bundle/);
    flags = { region: 'eu-central-1', allowFrom: ['10.0.0.0/99'] };
    await expect(up()).rejects.toBeInstanceOf(UserError);
    expect(lightsail.commandCalls(CreateInstancesCommand)).toHaveLength(0);
    expect(lightsail.commandCalls(ImportKeyPairCommand)).toHaveLength(0);
  });

  it('trusts on first use when Lightsail reports no host keys', async () => {
    lightsail.on(GetInstanceCommand).resolves(instance('lab-01'));
    lightsail.on(GetInstanceAccessDetailsCommand).resolves({ accessDetails: { hostKeys: [] } });
    await up();
    expect(connected[0]!.hostKeys).toEqual([]);
    expect(logs.some((l) => /trusting the first key seen/.test(l))).toBe(true);
  });

  it('--profile: the default client is made for that profile (before AWS_PROFILE)', () => {
    resetLightsailDeps();
    const saved = process.env['AWS_PROFILE'];
    process.env['AWS_PROFILE'] = 'from-env';
    try {
      expect((lightsailDeps.makeClient('eu-central-1').config as { profile?: string }).profile).toBe('from-env');
      expect((lightsailDeps.makeClient('eu-central-1', 'work').config as { profile?: string }).profile).toBe('work');
    } finally {
      if (saved === undefined) delete process.env['AWS_PROFILE'];
      else process.env['AWS_PROFILE'] = saved;
    }
  });

  it('plan/verify never create: an absent lab is a UserError', async () => {
    lightsail.on(GetInstanceCommand).rejects(notFound());
    const err = await open('lightsail:lab-09', 'use').catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.hint).toMatch(/ebpf-lab up --target lightsail:lab-09/);
    expect(lightsail.commandCalls(CreateInstancesCommand)).toHaveLength(0);
  });

  it('without a region anywhere: no terminal → says how to set one (nothing waits); terminal → select from GetRegions', async () => {
    flags = {};
    const saved = { ...process.env };
    for (const k of ['AWS_REGION', 'AWS_DEFAULT_REGION']) delete process.env[k];
    process.env['AWS_CONFIG_FILE'] = join(home, 'no-config');
    try {
      await expect(up()).rejects.toThrow(/No AWS region is set/);
      // on a terminal the region is chosen from the list the API returns
      const offered: string[] = [];
      io = {
        isTTY: () => true,
        prompter: {
          ...inquirer,
          select: async (o) => (offered.push(...o.choices.map((c) => c.value)), 'eu-central-1' as never),
        },
      };
      lightsail.on(GetInstanceCommand).resolves(instance('lab-01'));
      expect((await up()).record.region).toBe('eu-central-1');
      expect(offered).toEqual(['eu-central-1']);
    } finally {
      Object.assign(process.env, saved);
      if (!saved['AWS_CONFIG_FILE']) delete process.env['AWS_CONFIG_FILE'];
    }
  });
});

describe('status, ssh and down for lightsail labs', () => {
  const rec = () => ({
    name: 'lightsail:lab-01',
    kind: 'lightsail' as const,
    target: 'lightsail:lab-01',
    host: '192.0.2.1',
    port: 22,
    user: 'ubuntu',
    keyPath: join(home, 'keys', 'ebpf-lab-lab-01'),
    region: 'eu-central-1',
    createdByUs: true,
    createdAt: 'x',
  });

  it('status shows state, IP, Grafana URL, and the password from secrets/<lab>.grafana only with --show-password', async () => {
    await saveLab(rec());
    await mkdir(join(home, 'secrets'), { recursive: true });
    await writeFile(secretPath('lightsail:lab-01', 'grafana'), 's3cret\n'); // where the grafana step's secret lands
    lightsail.on(GetInstanceCommand).resolves(instance('lab-01'));
    const hidden: string[] = [];
    expect(await statusCommand(undefined, (s) => hidden.push(s))).toBe(0);
    expect(await statusCommand('json', (s) => hidden.push(s))).toBe(0);
    expect(hidden.join('\n')).toMatch(/grafana http:\/\/198\.51\.100\.10:3000\//);
    expect(hidden.join('\n')).toContain('"grafanaPasswordHidden": "ebpf-lab status --show-password"');
    expect(hidden.join('\n')).not.toContain('s3cret');
    const out: string[] = [];
    expect(await statusCommand(undefined, (s) => out.push(s), { showPassword: true })).toBe(0);
    expect(out.join('\n')).toMatch(
      /lightsail:lab-01\s+lightsail\s+running\s+ubuntu@198\.51\.100\.10 \(eu-central-1\)\s+grafana http:\/\/198\.51\.100\.10:3000\/ password s3cret/,
    );
    // the new IP was recorded, with the pinned key, for `ebpf-lab ssh`
    expect((await readRegistry()).labs['lightsail:lab-01']!.host).toBe(IP);
    expect(await readFile(join(home, 'known_hosts'), 'utf8')).toContain(`${IP} ${hostKey[0]} ${hostKey[1]}`);
  });

  it('status survives API errors and shows a deleted lab as absent', async () => {
    await saveLab(rec());
    lightsail.on(GetInstanceCommand).rejects(notFound());
    expect((await lightsailStatus(rec())).state).toBe('absent');
    lightsail.on(GetInstanceCommand).rejects(Object.assign(new Error('boom'), { name: 'ServiceException' }));
    expect((await lightsailStatus(rec())).state).toMatch(/^unknown \(/);
  });

  it('ssh refreshes the IP and host keys first', async () => {
    await saveLab(rec());
    lightsail.on(GetInstanceCommand).resolves(instance('lab-01'));
    await refreshLightsailLab('lab-01');
    expect((await readRegistry()).labs['lightsail:lab-01']!.host).toBe(IP);
  });

  it('down deletes only our instance and key pair, then forgets the lab', async () => {
    await saveLab(rec());
    await mkdir(join(home, 'secrets'), { recursive: true });
    await writeFile(secretPath('lightsail:lab-01', 'grafana'), 's3cret\n');
    lightsail.on(GetInstanceCommand).resolves(instance('lab-01'));
    lightsail.on(GetKeyPairCommand).resolves({ keyPair: { name: 'ebpf-lab-lab-01', tags: labTags('lab-01') } });
    lightsail.on(DeleteInstanceCommand).resolves({});
    lightsail.on(DeleteKeyPairCommand).resolves({});
    const out: string[] = [];
    expect(await downCommand({ target: 'lightsail:lab-01', yes: true, io }, (s) => out.push(s))).toBe(0);
    expect(lightsail.commandCalls(DeleteInstanceCommand).map((c) => c.args[0].input.instanceName)).toEqual(['lab-01']);
    expect(lightsail.commandCalls(DeleteKeyPairCommand).map((c) => c.args[0].input.keyPairName)).toEqual([
      'ebpf-lab-lab-01',
    ]);
    expect((await readRegistry()).labs['lightsail:lab-01']).toBeUndefined();
    expect(existsSync(secretPath('lightsail:lab-01', 'grafana')), 'the lab secret goes with the lab').toBe(false);
    expect(out.at(-1)).toBe('lightsail:lab-01: removed from eu-central-1');
  });

  it("down removes the lab's known-hosts lines (its own host keys, at any address) and never another lab's", async () => {
    // The registry still has the lab's old address (192.0.2.1); another lab got that address since.
    await saveLab(rec());
    const other = ssh2.utils.generateKeyPairSync('ed25519').public.split(' ');
    const kh = join(home, 'known_hosts');
    await writeFile(
      kh,
      [
        `192.0.2.1 ${other[0]} ${other[1]}`,
        `${IP} ${hostKey[0]} ${hostKey[1]}`,
        `192.0.2.1,[192.0.2.1]:2222 ${hostKey[0]} ${hostKey[1]}`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    lightsail.on(GetInstanceCommand).resolves(instance('lab-01'));
    lightsail.on(GetKeyPairCommand).resolves({ keyPair: { name: 'ebpf-lab-lab-01', tags: labTags('lab-01') } });
    lightsail.on(DeleteInstanceCommand).resolves({});
    lightsail.on(DeleteKeyPairCommand).resolves({});
    expect(await downCommand({ target: 'lightsail:lab-01', yes: true, io }, () => {})).toBe(0);
    expect(await readFile(kh, 'utf8')).toBe(`192.0.2.1 ${other[0]} ${other[1]}\n`);
  });

  it('down of a lab whose keys Lightsail never reported (trust on first use): the lines of the address it held', async () => {
    await saveLab(rec());
    const other = ssh2.utils.generateKeyPairSync('ed25519').public.split(' ');
    const tofu = ssh2.utils.generateKeyPairSync('ed25519').public.split(' ');
    const kh = join(home, 'known_hosts');
    await writeFile(kh, `192.0.2.1 ${other[0]} ${other[1]}\n${IP} ${tofu[0]} ${tofu[1]}\n`, { mode: 0o600 });
    lightsail.on(GetInstanceAccessDetailsCommand).resolves({ accessDetails: { hostKeys: [] } });
    lightsail.on(GetInstanceCommand).resolves(instance('lab-01'));
    lightsail.on(GetKeyPairCommand).resolves({ keyPair: { name: 'ebpf-lab-lab-01', tags: labTags('lab-01') } });
    lightsail.on(DeleteInstanceCommand).resolves({});
    lightsail.on(DeleteKeyPairCommand).resolves({});
    expect(await downCommand({ target: 'lightsail:lab-01', yes: true, io }, () => {})).toBe(0);
    expect(await readFile(kh, 'utf8')).toBe(`192.0.2.1 ${other[0]} ${other[1]}\n`);
  });

  it('down asks on a terminal and needs --yes without one; nothing is deleted before', async () => {
    await saveLab(rec());
    lightsail.on(GetInstanceCommand).resolves(instance('lab-01'));
    lightsail.on(DeleteInstanceCommand).resolves({});
    const err = await downCommand({ target: 'lightsail:lab-01', io }, () => {}).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/not deleting Lightsail instance "lab-01" in eu-central-1 .* without confirmation/);
    expect(err.hint).toMatch(/--yes/);
    const asked: string[] = [];
    io = { isTTY: () => true, prompter: { ...inquirer, confirm: async (o) => (asked.push(o.message), false) } };
    await expect(downCommand({ target: 'lightsail:lab-01', io }, () => {})).rejects.toThrow(/cancelled/);
    expect(asked).toEqual([`Delete Lightsail instance "lab-01" in eu-central-1 (running, ${IP}) and its key pair?`]);
    expect(lightsail.commandCalls(DeleteInstanceCommand)).toHaveLength(0);
    expect((await readRegistry()).labs['lightsail:lab-01']).toBeDefined();
  });

  it('--profile reaches the Lightsail client and is remembered for status and ssh', async () => {
    const profiles: (string | undefined)[] = [];
    lightsailDeps.makeClient = (_region, profile) => (profiles.push(profile), client);
    lightsail.on(GetInstanceCommand).resolves(instance('lab-01'));
    flags = { region: 'eu-central-1', profile: 'training' };
    const { record } = await up();
    expect(record).toMatchObject({ profile: 'training' });
    expect(new Set(profiles)).toEqual(new Set(['training']));
    await saveLab({ ...record, createdAt: 'x' });
    profiles.length = 0;
    await lightsailStatus({ ...record, createdAt: 'x' });
    expect(profiles).toEqual(['training']);
  });

  it('down refuses an instance that is not ours and deletes nothing', async () => {
    lightsail.on(GetInstanceCommand).resolves(instance('lab-01', { tags: [{ key: 'team', value: 'web' }] }));
    const kh = join(home, 'known_hosts');
    const line = `${IP} ${hostKey[0]} ${hostKey[1]}\n`;
    await writeFile(kh, line, { mode: 0o600 });
    await expect(
      downCommand({ target: 'lightsail:lab-01', targetFlags: { region: 'eu-central-1' }, yes: true, io }, () => {}),
    ).rejects.toBeInstanceOf(UserError);
    expect(await readFile(kh, 'utf8')).toBe(line);
    expect(lightsail.commandCalls(DeleteInstanceCommand)).toHaveLength(0);
    expect(lightsail.commandCalls(DeleteKeyPairCommand)).toHaveLength(0);
  });
});

describe('config file', () => {
  it('reads YAML and JSON, rejects unknown keys and wrong types', async () => {
    const y = join(home, 'ws.yaml');
    await writeFile(y, 'region: eu-central-1\nbundle: medium_3_0\ncount: 12\nprefix: php\nallowFrom: 203.0.113.0/24\n');
    expect(await readConfigFile(y)).toEqual({
      region: 'eu-central-1',
      bundle: 'medium_3_0',
      count: 12,
      prefix: 'php',
      allowFrom: ['203.0.113.0/24'],
    });
    const j = join(home, 'ws.json');
    await writeFile(j, JSON.stringify({ region: 'us-east-1', count: 3 }));
    expect(await readConfigFile(j)).toEqual({ region: 'us-east-1', count: 3 });
    await writeFile(j, JSON.stringify({ regoin: 'us-east-1' }));
    await expect(readConfigFile(j)).rejects.toThrow(/unknown key "regoin"/);
    await writeFile(j, JSON.stringify({ count: '3' }));
    await expect(readConfigFile(j)).rejects.toThrow(/"count" must be an integer/);
    await expect(readConfigFile(join(home, 'missing.yaml'))).rejects.toBeInstanceOf(UserError);
  });
});
