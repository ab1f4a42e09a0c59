/**
 * The `lightsail[:NAME]` target: create or adopt an instance (only ours, by tags), wait for
 * it to run with a public IP, converge its firewall, wait for SSH, pin its host key from the
 * API (else trust on first use), then hand an ssh2 transport to the engine. Also the
 * lightsail parts of `status`, `ssh` and `down`. Everything reaching AWS or the network goes
 * through {@link lightsailDeps} so tests can substitute the API and the endpoints.
 */
import { readSecret } from '../secrets.js';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { LightsailClient } from '@aws-sdk/client-lightsail';
import { UserError } from '../errors.js';
import type { CloudOptions } from '../cloud/api.js';
import { validateBlueprint, validateBundle, validateRegion } from '../cloud/catalog.js';
import { defaultKeyPairName, ensureKeyPair } from '../cloud/keys.js';
import { destroyLab, ensureInstance, getInstance, hostKeysFor, type LabInstance } from '../cloud/lightsail.js';
import { ensurePorts } from '../cloud/ports.js';
import { createLightsailClient } from '../cloud/region.js';
import { labTags } from '../cloud/tags.js';
import { waitForInstance, waitForPort, type ConnectFn } from '../cloud/wait.js';
import { forgetLab, knownHostsPath, labHome, readRegistry, saveLab, type LabRecord } from '../state.js';
import {
  forgetKnownHosts,
  parsePublicKeyLine,
  readKnownHosts,
  replaceHostKeys,
  writeKnownHosts,
  type HostKey,
} from '../transports/known-hosts.js';
import { connectSsh } from '../transports/ssh.js';
import type { Transport } from '../transports/transport.js';
import type { LightsailInputs } from './lightsail-inputs.js';
import type { OpenedTarget, StatusRow } from './target.js';
import { changeLabel } from '../runner/types.js';
import { GRAFANA_PORT } from '../lab/layout.js';

/** How to reach a lab instance once it runs: address, login, key and host keys to pin. */
export interface LabEndpoint {
  name: string;
  region: string;
  host: string;
  port: number;
  user: string;
  /** Private key (0600) of the lab's key pair. */
  keyPath: string;
  /** From GetInstanceAccessDetails; empty → trust on first use. */
  hostKeys: string[];
  instance: LabInstance;
  action: 'created' | 'adopted' | 'found';
}

/** The seams: the Lightsail client, fake time, the SSH address of an instance and the connection. */
export interface LightsailDeps {
  makeClient(region: string, profile?: string): LightsailClient;
  cloud: CloudOptions;
  instanceWait: { timeoutMs?: number; intervalMs?: number };
  portWait: { timeoutMs?: number; intervalMs?: number; connect?: ConnectFn };
  /** Where SSH listens for an instance (default: its public IP, port 22). */
  endpoint(inst: LabInstance & { publicIp: string }): { host: string; port: number };
  connect(ep: LabEndpoint, log: (l: string) => void): Promise<Transport>;
}

const DEFAULT_DEPS: LightsailDeps = {
  makeClient: (region, profile) => {
    // ebpf-lab supports Node 20 (package.json engines); the SDK's "upgrade to 22" notice on
    // every run would only be noise for attendees.
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
    return createLightsailClient({ region, profile: profile || process.env['AWS_PROFILE'] || undefined });
  },
  cloud: {},
  instanceWait: {},
  portWait: {},
  endpoint: (inst) => ({ host: inst.publicIp, port: 22 }),
  connect: (ep, log) =>
    connectSsh(
      { host: ep.host, port: ep.port, user: ep.user, keyPath: ep.keyPath },
      { knownHostsPath: knownHostsPath(), ...(ep.hostKeys.length ? { pinned: ep.hostKeys } : {}) },
      { log },
    ),
};

/** Mutable on purpose: tests replace fields and call {@link resetLightsailDeps}. */
export const lightsailDeps: LightsailDeps = { ...DEFAULT_DEPS };

export function resetLightsailDeps(): void {
  Object.assign(lightsailDeps, DEFAULT_DEPS);
}

/** A promise-chain mutex: labs.json and known_hosts are read-modify-write files shared by parallel labs. */
export function serial(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return (fn) => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => {});
    return run;
  };
}
const fileLock = serial();

/** The registry name of lab `name` (same shape as the --target value). */
export const recordName = (name: string): string => `lightsail:${name}`;
export const keyDir = (): string => join(labHome(), 'keys');

export interface PrepareInput {
  name: string;
  region: string;
  bundleId: string;
  blueprintId: string;
  allowFrom?: string[];
  expiresAt?: Date;
  /** Region and bundle already checked against the API (workshop checks once for the fleet). */
  validated?: boolean;
  log: (line: string) => void;
}

function notOurs(found: LabInstance, name: string, region: string): UserError {
  const owner = found.ours ? `ebpf-lab's lab "${found.lab}"` : 'something that is not ebpf-lab';
  return new UserError(
    `an instance named "${name}" already exists in ${region} and belongs to ${owner}; nothing was created`,
    'choose another lab name (lightsail:NAME or --prefix), or delete that instance yourself if it is really unused',
  );
}

/** Instance up to "SSH answers": key pair, instance, running + IP, firewall, port 22, host keys. */
export async function prepareLab(client: LightsailClient, input: PrepareInput): Promise<LabEndpoint> {
  const { name, region, log } = input;
  const cloud = lightsailDeps.cloud;
  validateBlueprint(input.blueprintId);
  // A name clash is refused before the key pair is imported: nothing is created for it.
  const existing = await getInstance(client, name, cloud);
  if (existing && !(existing.ours && existing.lab === name)) throw notOurs(existing, name, region);
  if (!input.validated) {
    await validateRegion(client, region, cloud);
    await validateBundle(client, input.bundleId, cloud);
  }
  const keyPairName = existing?.keyPairName ?? defaultKeyPairName(name);
  const key = await ensureKeyPair(
    client,
    { name: keyPairName, keyDir: keyDir(), lab: name, tags: labTags(name, { expiresAt: input.expiresAt }) },
    cloud,
  );
  if (key.generated) log(`${name}: generated SSH key ${key.privateKeyPath} (mode 0600)`);
  if (key.imported) log(`${name}: imported key pair ${keyPairName} into Lightsail`);
  const made = await ensureInstance(
    client,
    {
      name,
      region,
      lab: name,
      bundleId: input.bundleId,
      blueprintId: input.blueprintId,
      keyPairName,
      expiresAt: input.expiresAt,
    },
    cloud,
  );
  log(
    made.action === 'created'
      ? `${name}: creating instance (${made.change?.detail ?? input.bundleId})`
      : `${name}: adopting the existing instance (tagged as ours)`,
  );
  made.notes.forEach((n) => log(`note: ${n}`));
  const inst = await waitForInstance(client, name, {
    ...cloud,
    ...lightsailDeps.instanceWait,
    onState: (s) => log(`${name}: ${s}`),
  });
  const ports = await ensurePorts(client, name, {
    ...cloud,
    ...(input.allowFrom?.length ? { allowFrom: input.allowFrom } : {}),
  });
  if (ports.change) log(`${name}: firewall set to ${ports.change.detail}`);
  if (ports.note) log(`note: ${ports.note}`);
  const { host, port } = lightsailDeps.endpoint(inst);
  log(`${name}: ${inst.state} at ${host}, waiting for SSH on port ${port}`);
  await waitForPort(host, port, {
    ...lightsailDeps.portWait,
    ...(cloud.sleep ? { sleep: cloud.sleep } : {}),
    ...(cloud.now ? { now: cloud.now } : {}),
  });
  const hostKeys = await hostKeysFor(client, name, cloud);
  log(
    hostKeys.length
      ? `${name}: pinning ${hostKeys.length} host key(s) reported by Lightsail`
      : `${name}: Lightsail reports no host keys; trusting the first key seen`,
  );
  // A new instance may have a recycled IP: a key recorded for a former owner must not block it.
  if (made.action === 'created' && hostKeys.length === 0) await setKnownHostKeys(host, port, []);
  const user = inst.username || (inst.blueprintId?.startsWith('debian') ? 'admin' : 'ubuntu');
  return { name, region, host, port, user, keyPath: key.privateKeyPath, hostKeys, instance: inst, action: made.action };
}

async function setKnownHostKeys(host: string, port: number, lines: string[]): Promise<void> {
  await fileLock(async () => {
    const text = await readKnownHosts(knownHostsPath());
    await writeKnownHosts(knownHostsPath(), replaceHostKeys(text, host, port, lines.map(parsePublicKeyLine)));
  });
}

/** What identifies a lab's known-hosts lines, read before the instance is deleted. */
export interface HostKeysToForget {
  /** The instance's host keys as Lightsail reports them (made for that machine alone). */
  keys: HostKey[];
  /** Where SSH reached it until now: used only when Lightsail reports no keys (trust on first use). */
  address?: { host: string; port: number };
}

/** Read before `destroyLab`: the host keys (and address) of lab `name`, if it is ours; nothing otherwise. */
export async function hostKeysToForget(client: LightsailClient, name: string): Promise<HostKeysToForget> {
  const inst = await getInstance(client, name, lightsailDeps.cloud);
  if (!inst || !(inst.ours && inst.lab === name)) return { keys: [] };
  const keys: HostKey[] = [];
  for (const line of await hostKeysFor(client, name, lightsailDeps.cloud)) {
    try {
      keys.push(parsePublicKeyLine(line));
    } catch {
      /* a key type OpenSSH does not know cannot be in known_hosts either */
    }
  }
  return {
    keys,
    ...(inst.publicIp ? { address: lightsailDeps.endpoint(inst as LabInstance & { publicIp: string }) } : {}),
  };
}

/**
 * After the instance is deleted: removes its known-hosts lines — every line holding one of
 * its own host keys — and never a line of another lab (another machine has other keys, also
 * at an address this lab once had). When Lightsail reported no keys (trust on first use),
 * the lines of the address the instance held until it was deleted are its own.
 */
export async function forgetHostKeysOf(plan: HostKeysToForget): Promise<void> {
  if (plan.keys.length) {
    await fileLock(() => forgetKnownHosts(knownHostsPath(), plan.keys));
    return;
  }
  if (plan.address) await setKnownHostKeys(plan.address.host, plan.address.port, []);
}

/** The endpoint of an existing, running lab of ours (plan/verify/ssh never create). */
export async function existingEndpoint(client: LightsailClient, name: string, region: string): Promise<LabEndpoint> {
  const inst = await getInstance(client, name, lightsailDeps.cloud);
  if (!inst)
    throw new UserError(
      `there is no Lightsail instance "${name}" in ${region}`,
      `create it with: ebpf-lab up --target lightsail:${name} --region ${region}`,
    );
  if (!(inst.ours && inst.lab === name))
    throw new UserError(`instance "${name}" in ${region} is not an ebpf-lab lab; not touching it`);
  if (inst.state !== 'running' || !inst.publicIp)
    throw new UserError(
      `instance "${name}" is ${inst.state}${inst.publicIp ? '' : ' without a public IP'}`,
      `run: ebpf-lab up --target lightsail:${name}`,
    );
  const { host, port } = lightsailDeps.endpoint(inst as LabInstance & { publicIp: string });
  const hostKeys = await hostKeysFor(client, name, lightsailDeps.cloud);
  const user = inst.username || 'ubuntu';
  const keyPath = join(keyDir(), inst.keyPairName ?? defaultKeyPairName(name));
  return { name, region, host, port, user, keyPath, hostKeys, instance: inst, action: 'found' };
}

/** Connects (one handshake at a time: connectSsh records TOFU keys with a read-modify-write). */
export function connectLab(ep: LabEndpoint, log: (l: string) => void): Promise<Transport> {
  return fileLock(() => lightsailDeps.connect(ep, log));
}

/** What the registry keeps for a lab. */
export function recordFor(ep: LabEndpoint): Omit<LabRecord, 'createdAt'> {
  return {
    name: recordName(ep.name),
    kind: 'lightsail',
    target: recordName(ep.name),
    host: ep.host,
    port: ep.port,
    user: ep.user,
    keyPath: ep.keyPath,
    region: ep.region,
    createdByUs: true,
  };
}

/** Serialised registry writes (parallel workshop labs share labs.json). */
export const saveLabLocked = (rec: LabRecord): Promise<void> => fileLock(() => saveLab(rec));
export const forgetLabLocked = (name: string): Promise<void> => fileLock(() => forgetLab(name));

/** Opens a lab with resolved inputs: `up` creates or adopts; plan/verify need a running lab. */
export async function openLightsail(
  spec: { name: string },
  inputs: LightsailInputs,
  o: { create: boolean; log: (l: string) => void },
): Promise<OpenedTarget> {
  const client = lightsailDeps.makeClient(inputs.region, inputs.profile);
  const ep = o.create
    ? await prepareLab(client, {
        name: spec.name,
        region: inputs.region,
        bundleId: inputs.bundleId,
        blueprintId: inputs.blueprintId,
        allowFrom: inputs.allowFrom,
        expiresAt: inputs.ttlMs ? new Date(Date.now() + inputs.ttlMs) : undefined,
        log: o.log,
      })
    : await existingEndpoint(client, spec.name, inputs.region);
  const transport = await connectLab(ep, o.log);
  return { transport, record: { ...recordFor(ep), ...(inputs.profile ? { profile: inputs.profile } : {}) } };
}

/** The Grafana admin password the grafana step generated for this lab, if any. */
export async function grafanaPassword(name: string): Promise<string | undefined> {
  return readSecret(recordName(name), 'grafana');
}

/** One `status` row of a lightsail lab. */
export type LightsailStatus = StatusRow;

/** Live state of a registered lab; refreshes its IP and pinned host keys (an IP changes after stop/start). */
export async function lightsailStatus(lab: LabRecord): Promise<LightsailStatus> {
  const name = lab.name.replace(/^lightsail:/, '');
  const grafana = await grafanaPassword(name);
  try {
    const client = lightsailDeps.makeClient(lab.region ?? 'us-east-1', lab.profile);
    const inst = await getInstance(client, name, lightsailDeps.cloud);
    if (!inst) return { ...lab, state: 'absent' };
    let host = lab.host;
    let port = lab.port;
    if (inst.publicIp) {
      ({ host, port } = lightsailDeps.endpoint(inst as LabInstance & { publicIp: string }));
      const keys = await hostKeysFor(client, name, lightsailDeps.cloud);
      if (keys.length) await setKnownHostKeys(host, port, keys);
      if (host !== lab.host || port !== lab.port) await saveLabLocked({ ...lab, host, port });
    }
    const grafanaUrl = inst.publicIp && host ? `http://${host}:${GRAFANA_PORT}/` : undefined;
    return {
      ...lab,
      host,
      port,
      state: inst.state,
      ...(grafanaUrl ? { grafanaUrl } : {}),
      ...(grafana ? { grafanaPassword: grafana } : {}),
    };
  } catch (e) {
    return { ...lab, state: `unknown (${(e as Error).message.split('\n')[0]})` };
  }
}

/**
 * What `up` would create and what it costs, for its confirmation; undefined when the instance
 * exists (ours is converged, another's is refused by prepareLab): nothing new is paid for.
 */
export async function createPreview(name: string, inputs: LightsailInputs): Promise<string | undefined> {
  const client = lightsailDeps.makeClient(inputs.region, inputs.profile);
  if (await getInstance(client, name, lightsailDeps.cloud)) return undefined;
  const { estimateCost, formatCost } = await import('../cloud/cost.js');
  const cost = await estimateCost(client, inputs.bundleId, 1, lightsailDeps.cloud);
  return `Lightsail instance "${name}" in ${inputs.region}, ${formatCost(cost)}`;
}

/**
 * What `down` would delete, for its confirmation: "instance NAME in REGION", or undefined when
 * there is nothing of ours to delete (absent, or not ours: down then refuses by itself).
 */
export async function downPreview(name: string, inputs: LightsailInputs): Promise<string | undefined> {
  const client = lightsailDeps.makeClient(inputs.region, inputs.profile);
  const inst = await getInstance(client, name, lightsailDeps.cloud);
  if (!inst || !(inst.ours && inst.lab === name)) return undefined;
  return `Lightsail instance "${name}" in ${inputs.region} (${inst.state}${inst.publicIp ? `, ${inst.publicIp}` : ''}) and its key pair`;
}

/** Before `ssh`: current IP and pinned keys into the registry and known_hosts. */
export async function refreshLightsailLab(name: string): Promise<void> {
  const lab = (await readRegistry()).labs[recordName(name)];
  if (lab) await lightsailStatus(lab);
}

/** `down --target lightsail:NAME`: instance and key pair (only ours), its known-hosts lines, registry entry. */
export async function lightsailDown(
  spec: { name: string; label: string },
  inputs: LightsailInputs,
  write: (s: string) => void,
): Promise<number> {
  const known = (await readRegistry()).labs[recordName(spec.name)];
  const client = lightsailDeps.makeClient(inputs.region, inputs.profile);
  const hostKeys = await hostKeysToForget(client, spec.name);
  const changes = await destroyLab(client, spec.name, {
    ...lightsailDeps.cloud,
    keyPairName: defaultKeyPairName(spec.name),
  });
  if (changes.some((c) => c.kind === 'lightsail' && c.instance === spec.name && c.action === 'delete'))
    await forgetHostKeysOf(hostKeys);
  if (changes.some((c) => c.kind === 'lightsail-keypair') && known?.keyPath) {
    await rm(known.keyPath, { force: true });
    await rm(`${known.keyPath}.pub`, { force: true });
  }
  if (known) await forgetLabLocked(recordName(spec.name));
  for (const c of changes) write(`${changeLabel(c)}: deleted`);
  write(
    changes.length
      ? `${spec.label}: removed from ${inputs.region}`
      : `${spec.label}: nothing to remove in ${inputs.region} (it does not exist)`,
  );
  return 0;
}
