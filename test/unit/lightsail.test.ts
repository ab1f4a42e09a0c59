// Substitute: the Lightsail API cannot be reached from CI, so every call goes to aws-sdk-client-mock.
import {
  AccessDeniedException,
  CreateInstancesCommand,
  DeleteInstanceCommand,
  DeleteKeyPairCommand,
  GetInstanceAccessDetailsCommand,
  GetInstanceCommand,
  GetInstancesCommand,
  GetKeyPairCommand,
  GetRegionsCommand,
  InvalidInputException,
  LightsailClient,
  NotFoundException,
  StartInstanceCommand,
  type Instance,
} from '@aws-sdk/client-lightsail';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import {
  destroyLab,
  ensureInstance,
  expiredLabs,
  getInstance,
  hostKeysFor,
  listLabs,
} from '../../src/cloud/lightsail.js';
import { labTags } from '../../src/cloud/tags.js';
import { WaitTimeoutError, waitForInstance } from '../../src/cloud/wait.js';
import { changeLabel } from '../../src/runner/types.js';

const lightsail = mockClient(LightsailClient);
const client = new LightsailClient({ region: 'eu-central-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
const notFound = (): NotFoundException =>
  new NotFoundException({ message: 'The Instance does not exist', $metadata: {} });

function instance(name: string, over: Partial<Instance> = {}): Instance {
  return {
    name,
    state: { code: 16, name: 'running' },
    publicIpAddress: '198.51.100.10',
    username: 'ubuntu',
    bundleId: 'small_3_0',
    blueprintId: 'ubuntu_22_04',
    sshKeyName: `ebpf-lab-${name}`,
    location: { availabilityZone: 'eu-central-1b', regionName: 'eu-central-1' },
    tags: labTags(name),
    ...over,
  };
}

const regions = {
  regions: [
    {
      name: 'eu-central-1',
      displayName: 'Frankfurt',
      availabilityZones: [
        { zoneName: 'eu-central-1a', state: 'impaired' },
        { zoneName: 'eu-central-1b', state: 'available' },
        { zoneName: 'eu-central-1c', state: 'available' },
      ],
    },
    { name: 'us-east-1', availabilityZones: [{ zoneName: 'us-east-1a', state: 'available' }] },
  ],
} as never;

/** A fake clock: sleep advances it instead of waiting. */
function fakeTime(): { sleep: (ms: number) => Promise<void>; now: () => number; slept: number[] } {
  let t = 1_000_000;
  const slept: number[] = [];
  return { slept, now: () => t, sleep: async (ms) => void (slept.push(ms), (t += ms)) };
}

const spec = { name: 'lab-01', region: 'eu-central-1', keyPairName: 'ebpf-lab-lab-01' };

beforeEach(() => {
  lightsail.reset();
  lightsail.on(GetRegionsCommand).resolves(regions);
});

describe('ensureInstance', () => {
  it('creates an absent instance with our tags in the first available zone', async () => {
    lightsail.on(GetInstanceCommand).rejects(notFound());
    lightsail.on(CreateInstancesCommand).resolves({ operations: [{ status: 'Started' }] });
    const r = await ensureInstance(client, { ...spec, expiresAt: new Date('2030-01-02T03:04:05Z') });
    expect(r.action).toBe('created');
    expect(r.change).toMatchObject({ kind: 'lightsail', instance: 'lab-01', action: 'create' });
    const input = lightsail.commandCalls(CreateInstancesCommand)[0]!.args[0].input;
    expect(input).toMatchObject({
      instanceNames: ['lab-01'],
      availabilityZone: 'eu-central-1b',
      blueprintId: 'ubuntu_22_04',
      bundleId: 'small_3_0',
      keyPairName: 'ebpf-lab-lab-01',
    });
    expect(input.tags).toEqual([
      { key: 'managed-by', value: 'ebpf-lab' },
      { key: 'ebpf-lab:lab', value: 'lab-01' },
      { key: 'ebpf-lab:expires', value: '2030-01-02T03:04:05.000Z' },
    ]);
    expect(input.userData).toBeUndefined();
  });

  it('adopts an existing instance tagged for the same lab without creating', async () => {
    lightsail.on(GetInstanceCommand).resolves({ instance: instance('lab-01', { bundleId: 'medium_3_0' }) });
    const r = await ensureInstance(client, spec);
    expect(r.action).toBe('adopted');
    expect(r.instance?.publicIp).toBe('198.51.100.10');
    expect(r.notes.join()).toMatch(/keeps bundle medium_3_0/);
    expect(lightsail.commandCalls(CreateInstancesCommand)).toHaveLength(0);
  });

  it('refuses a same-named instance without our tags: UserError, nothing created', async () => {
    lightsail
      .on(GetInstanceCommand)
      .resolves({ instance: instance('lab-01', { tags: [{ key: 'team', value: 'web' }] }) });
    const err = await ensureInstance(client, spec).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/already exists .* not ebpf-lab; nothing was created/);
    expect(lightsail.commandCalls(CreateInstancesCommand)).toHaveLength(0);
  });

  it('refuses an instance tagged ours but for another lab', async () => {
    lightsail.on(GetInstanceCommand).resolves({ instance: instance('lab-01', { tags: labTags('other') }) });
    await expect(ensureInstance(client, spec)).rejects.toThrow(/lab "other"/);
  });

  it('adopts after a create whose response was lost ("already in use") when the instance is ours', async () => {
    lightsail
      .on(GetInstanceCommand)
      .rejectsOnce(notFound())
      .resolves({ instance: instance('lab-01') });
    lightsail
      .on(CreateInstancesCommand)
      .rejects(new InvalidInputException({ message: 'Some names are already in use: lab-01', $metadata: {} }));
    const r = await ensureInstance(client, spec);
    expect(r.action).toBe('adopted');
    expect(lightsail.commandCalls(GetInstanceCommand)).toHaveLength(2);
  });

  it('refuses nano unless allowed, and then adds a swap file to the launch script', async () => {
    lightsail.on(GetInstanceCommand).rejects(notFound());
    lightsail.on(CreateInstancesCommand).resolves({ operations: [] });
    await expect(ensureInstance(client, { ...spec, bundleId: 'nano_3_0' })).rejects.toBeInstanceOf(UserError);
    expect(lightsail.commandCalls(CreateInstancesCommand)).toHaveLength(0);
    await ensureInstance(client, {
      ...spec,
      bundleId: 'nano_3_0',
      allowNano: true,
      userData: '#!/bin/sh\ntouch /tmp/x\n',
    });
    const ud = lightsail.commandCalls(CreateInstancesCommand)[0]!.args[0].input.userData ?? '';
    expect(ud).toMatch(/^#!\/bin\/bash\n/);
    expect(ud).toMatch(/fallocate -l 2G \/swapfile/);
    expect(ud).toMatch(/touch \/tmp\/x\n$/);
  });

  it('rejects blueprints outside the allowed list and unknown zones, before creating', async () => {
    lightsail.on(GetInstanceCommand).rejects(notFound());
    const bp = await ensureInstance(client, { ...spec, blueprintId: 'centos_7' }).catch((e) => e);
    expect(bp).toBeInstanceOf(UserError);
    expect(bp.hint).toBe('Choose one of: ubuntu_22_04, ubuntu_24_04, debian_12');
    const az = await ensureInstance(client, { ...spec, availabilityZone: 'eu-central-1a' }).catch((e) => e);
    expect(az.message).toMatch(/eu-central-1a" is not available/);
    expect(az.hint).toBe('Choose one of: eu-central-1b, eu-central-1c');
    expect(lightsail.commandCalls(CreateInstancesCommand)).toHaveLength(0);
  });

  it('reports the instance-limit message as a UserError with what to do', async () => {
    lightsail.on(GetInstanceCommand).rejects(notFound());
    lightsail.on(CreateInstancesCommand).rejects(
      new InvalidInputException({
        message: "Sorry, you've reached the maximum number of instances for your account",
        $metadata: {},
      }),
    );
    const err = await ensureInstance(client, spec).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/maximum number of instances/);
    expect(err.hint).toMatch(/quota increase/);
  });
});

describe('waitForInstance', () => {
  it('waits through pending until running with an IP', async () => {
    const t = fakeTime();
    lightsail
      .on(GetInstanceCommand)
      .rejectsOnce(notFound())
      .resolvesOnce({ instance: instance('lab-01', { state: { name: 'pending' }, publicIpAddress: undefined }) })
      .resolvesOnce({ instance: instance('lab-01', { state: { name: 'pending' }, publicIpAddress: undefined }) })
      .resolves({ instance: instance('lab-01') });
    const states: string[] = [];
    const inst = await waitForInstance(client, 'lab-01', { ...t, onState: (s) => states.push(s) });
    expect(inst.publicIp).toBe('198.51.100.10');
    expect(states).toEqual(['pending', 'running']);
    expect(t.slept).toEqual([5000, 5000, 5000]);
  });

  it('keeps polling when Lightsail says running before the public IP exists', async () => {
    const t = fakeTime();
    lightsail
      .on(GetInstanceCommand)
      .resolvesOnce({ instance: instance('lab-01', { publicIpAddress: undefined }) })
      .resolvesOnce({ instance: instance('lab-01', { publicIpAddress: '' }) })
      .resolves({ instance: instance('lab-01', { publicIpAddress: '203.0.113.5' }) });
    const inst = await waitForInstance(client, 'lab-01', t);
    expect(inst.publicIp).toBe('203.0.113.5');
    expect(lightsail.commandCalls(GetInstanceCommand)).toHaveLength(3);
  });

  it('times out with the last state seen, within the budget', async () => {
    const t = fakeTime();
    const start = t.now();
    lightsail.on(GetInstanceCommand).resolves({ instance: instance('lab-01', { state: { name: 'pending' } }) });
    const err = await waitForInstance(client, 'lab-01', { ...t, timeoutMs: 60_000 }).catch((e) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect(err.message).toMatch(/after 60 s \(last state: pending\)/);
    expect(t.now() - start).toBeLessThanOrEqual(60_000);
    expect(lightsail.commandCalls(GetInstanceCommand).length).toBe(13);
  });

  it('starts a stopped instance once after it finished stopping', async () => {
    const t = fakeTime();
    lightsail
      .on(GetInstanceCommand)
      .resolvesOnce({ instance: instance('lab-01', { state: { name: 'stopping' } }) })
      .resolvesOnce({ instance: instance('lab-01', { state: { name: 'stopped' } }) })
      .resolvesOnce({ instance: instance('lab-01', { state: { name: 'stopped' } }) })
      .resolvesOnce({ instance: instance('lab-01', { state: { name: 'starting' } }) })
      .resolves({ instance: instance('lab-01') });
    lightsail.on(StartInstanceCommand).resolves({});
    await waitForInstance(client, 'lab-01', t);
    expect(lightsail.commandCalls(StartInstanceCommand)).toHaveLength(1);
  });

  it('fails at once on a terminated instance', async () => {
    lightsail.on(GetInstanceCommand).resolves({ instance: instance('lab-01', { state: { name: 'terminated' } }) });
    await expect(waitForInstance(client, 'lab-01', fakeTime())).rejects.toThrow(/terminated/);
  });
});

describe('host keys, listing, modelled errors', () => {
  it('turns GetInstanceAccessDetails host keys into OpenSSH lines, [] when unavailable', async () => {
    lightsail.on(GetInstanceAccessDetailsCommand).resolvesOnce({
      accessDetails: {
        hostKeys: [
          { algorithm: 'ssh-ed25519', publicKey: 'AAAAC3Nza' },
          { algorithm: 'ssh-rsa' },
          { algorithm: 'ecdsa-sha2-nistp256', publicKey: 'AAAAE2Vj' },
        ],
      },
    });
    expect(await hostKeysFor(client, 'lab-01')).toEqual(['ssh-ed25519 AAAAC3Nza', 'ecdsa-sha2-nistp256 AAAAE2Vj']);
    expect(lightsail.commandCalls(GetInstanceAccessDetailsCommand)[0]!.args[0].input).toEqual({
      instanceName: 'lab-01',
      protocol: 'ssh',
    });
    lightsail.on(GetInstanceAccessDetailsCommand).rejects(notFound());
    expect(await hostKeysFor(client, 'lab-01')).toEqual([]);
  });

  it('lists only our instances across pages, with expiry', async () => {
    lightsail
      .on(GetInstancesCommand)
      .resolvesOnce({
        instances: [
          instance('lab-02', { tags: labTags('lab-02', { expiresAt: new Date(0) }) }),
          instance('web', { tags: [] }),
        ],
        nextPageToken: 'p2',
      })
      .resolvesOnce({ instances: [instance('lab-01', { publicIpAddress: undefined, state: { name: 'pending' } })] });
    const labs = await listLabs(client);
    expect(labs.map((l) => [l.name, l.lab, l.state, l.publicIp ?? null])).toEqual([
      ['lab-01', 'lab-01', 'pending', null],
      ['lab-02', 'lab-02', 'running', '198.51.100.10'],
    ]);
    expect(lightsail.commandCalls(GetInstancesCommand)[1]!.args[0].input).toEqual({ pageToken: 'p2' });
    expect(expiredLabs(labs, Date.now()).map((l) => l.name)).toEqual(['lab-02']);
  });

  it('getInstance: NotFound is undefined, AccessDenied is a UserError naming the permission', async () => {
    lightsail
      .on(GetInstanceCommand)
      .rejectsOnce(notFound())
      .rejects(
        new AccessDeniedException({ message: 'not authorized to perform lightsail:GetInstance', $metadata: {} }),
      );
    expect(await getInstance(client, 'lab-01')).toBeUndefined();
    const err = await getInstance(client, 'lab-01').catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/access denied/);
    expect(err.hint).toMatch(/lightsail:/);
  });
});

describe('destroyLab', () => {
  it('deletes our instance and our key pair', async () => {
    lightsail.on(GetInstanceCommand).resolves({ instance: instance('lab-01') });
    lightsail.on(GetKeyPairCommand).resolves({ keyPair: { name: 'ebpf-lab-lab-01', tags: labTags('lab-01') } });
    lightsail.on(DeleteInstanceCommand).resolves({});
    lightsail.on(DeleteKeyPairCommand).resolves({});
    const changes = await destroyLab(client, 'lab-01');
    expect(changes.map(changeLabel)).toEqual(['lightsail:lab-01', 'lightsail-keypair:ebpf-lab-lab-01']);
    expect(lightsail.commandCalls(DeleteInstanceCommand)[0]!.args[0].input).toMatchObject({ instanceName: 'lab-01' });
  });

  it('never deletes an untagged instance with the same name', async () => {
    lightsail.on(GetInstanceCommand).resolves({ instance: instance('lab-01', { tags: [] }) });
    lightsail.on(GetKeyPairCommand).resolves({ keyPair: { name: 'ebpf-lab-lab-01', tags: labTags('lab-01') } });
    await expect(destroyLab(client, 'lab-01')).rejects.toBeInstanceOf(UserError);
    expect(lightsail.commandCalls(DeleteInstanceCommand)).toHaveLength(0);
    expect(lightsail.commandCalls(DeleteKeyPairCommand)).toHaveLength(0);
  });

  it('leaves a key pair that is not ours, and converges when the instance is already gone', async () => {
    lightsail.on(GetInstanceCommand).rejects(notFound());
    lightsail.on(GetKeyPairCommand).resolves({ keyPair: { name: 'shared', tags: [] } });
    expect(await destroyLab(client, 'lab-01', { keyPairName: 'shared' })).toEqual([]);
    expect(lightsail.commandCalls(DeleteKeyPairCommand)).toHaveLength(0);
    expect(lightsail.commandCalls(DeleteInstanceCommand)).toHaveLength(0);
  });
});
