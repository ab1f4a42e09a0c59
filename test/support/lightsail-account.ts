import {
  CreateInstancesCommand,
  DeleteInstanceCommand,
  DeleteKeyPairCommand,
  GetBundlesCommand,
  GetInstanceAccessDetailsCommand,
  GetInstanceCommand,
  GetInstancePortStatesCommand,
  GetInstancesCommand,
  GetKeyPairCommand,
  GetRegionsCommand,
  ImportKeyPairCommand,
  LightsailClient,
  NotFoundException,
  PutInstancePublicPortsCommand,
  TagResourceCommand,
  type Instance,
  type KeyPair,
  type Tag,
} from '@aws-sdk/client-lightsail';
import type { AwsClientStub } from 'aws-sdk-client-mock';

export const notFound = (what: string) => new NotFoundException({ message: `${what} does not exist`, $metadata: {} });

export interface FakeAccountOptions {
  /** The public IP an instance gets when it turns running. */
  publicIp: (name: string) => string;
  /** Login user the API reports (ubuntu on real images; root for sandboxes standing in). */
  username: string;
  /** Host keys GetInstanceAccessDetails reports, as OpenSSH lines. */
  hostKeys?: (name: string) => string[];
  instances?: Map<string, Instance>;
  keyPairs?: Map<string, KeyPair>;
}

/**
 * An in-memory Lightsail account behind aws-sdk-client-mock (a stand-in for the real API,
 * which cannot be reached here): a created instance is pending once, then running with an
 * IP; key pairs, tags, ports and deletes keep enough state for create → wait → delete.
 */
export function fakeLightsailAccount(lightsail: AwsClientStub<LightsailClient>, o: FakeAccountOptions) {
  const instances = o.instances ?? new Map<string, Instance>();
  const keyPairs = o.keyPairs ?? new Map<string, KeyPair>();
  lightsail.on(GetRegionsCommand).resolves({
    regions: [{ name: 'eu-central-1', availabilityZones: [{ zoneName: 'eu-central-1a', state: 'available' }] }],
  });
  lightsail.on(GetBundlesCommand).resolves({
    bundles: [
      {
        bundleId: 'small_3_0',
        price: 12,
        ramSizeInGb: 2,
        cpuCount: 2,
        isActive: true,
        supportedPlatforms: ['LINUX_UNIX'],
        publicIpv4AddressCount: 1,
      },
    ],
  });
  lightsail.on(GetInstanceCommand).callsFake(async ({ instanceName }) => {
    const i = instances.get(instanceName);
    if (!i) throw notFound(instanceName);
    const snapshot = structuredClone(i);
    if (i.state?.name === 'pending')
      Object.assign(i, { state: { name: 'running' }, publicIpAddress: o.publicIp(instanceName) });
    return { instance: snapshot };
  });
  lightsail.on(GetInstancesCommand).callsFake(async () => ({ instances: [...instances.values()] }));
  lightsail.on(CreateInstancesCommand).callsFake(async (input) => {
    for (const name of input.instanceNames)
      instances.set(name, {
        name,
        state: { name: 'pending' },
        tags: input.tags,
        sshKeyName: input.keyPairName,
        username: o.username,
        bundleId: input.bundleId,
        blueprintId: input.blueprintId,
      });
    return { operations: [{ status: 'Started' }] };
  });
  lightsail.on(DeleteInstanceCommand).callsFake(async ({ instanceName }) => (instances.delete(instanceName), {}));
  lightsail.on(GetKeyPairCommand).callsFake(async ({ keyPairName }) => {
    const k = keyPairs.get(keyPairName);
    if (!k) throw notFound(keyPairName);
    return { keyPair: k };
  });
  lightsail
    .on(ImportKeyPairCommand)
    .callsFake(async ({ keyPairName }) => (keyPairs.set(keyPairName, { name: keyPairName }), {}));
  lightsail.on(TagResourceCommand).callsFake(async ({ resourceName, tags }: { resourceName: string; tags: Tag[] }) => {
    const k = keyPairs.get(resourceName);
    if (k) k.tags = tags;
    return {};
  });
  lightsail.on(DeleteKeyPairCommand).callsFake(async ({ keyPairName }) => (keyPairs.delete(keyPairName), {}));
  lightsail.on(GetInstancePortStatesCommand).resolves({ portStates: [] });
  lightsail.on(PutInstancePublicPortsCommand).resolves({});
  lightsail.on(GetInstanceAccessDetailsCommand).callsFake(async ({ instanceName }) => ({
    accessDetails: {
      hostKeys: (o.hostKeys?.(instanceName) ?? []).map((l) => ({
        algorithm: l.split(' ')[0],
        publicKey: l.split(' ')[1],
      })),
    },
  }));
  return { instances, keyPairs };
}
