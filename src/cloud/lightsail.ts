import {
  CreateInstancesCommand,
  DeleteInstanceCommand,
  GetInstanceAccessDetailsCommand,
  GetInstanceCommand,
  GetInstancesCommand,
  type Instance,
  type LightsailClient,
  type Tag,
} from '@aws-sdk/client-lightsail';
import { UserError } from '../errors.js';
import { call, raw, type CloudOptions } from './api.js';
import { DEFAULT_BLUEPRINT, DEFAULT_BUNDLE, isNanoBundle, pickAvailabilityZone, validateBlueprint } from './catalog.js';
import { isNameTaken, isNotFound, translateAwsError } from './errors.js';
import { deleteKeyPairIfOurs } from './keys.js';
import { EXPIRES_KEY, LAB_KEY, isOurs, labTags, tagMap } from './tags.js';
import type { Change } from '../runner/types.js';
import { hostScript } from '../render/script.js';

/** A Lightsail instance as the rest of ebpf-lab sees it. */
export interface LabInstance {
  name: string;
  /** Value of the ebpf-lab:lab tag (undefined when not ours). */
  lab?: string;
  /** Lightsail state name: pending, running, stopping, stopped, … */
  state: string;
  publicIp?: string;
  /** Login user of the blueprint (ubuntu, admin). */
  username?: string;
  bundleId?: string;
  blueprintId?: string;
  availabilityZone?: string;
  keyPairName?: string;
  /** ISO time from the ebpf-lab:expires tag. */
  expiresAt?: string;
  /** managed-by=ebpf-lab present. */
  ours: boolean;
  tags: Record<string, string>;
}

/** A planned or applied change to a Lightsail instance or key pair, in the engine's shape. */
export type CloudChange = Extract<Change, { kind: 'lightsail' | 'lightsail-keypair' }>;

function toLab(i: Instance): LabInstance {
  const tags = tagMap(i.tags);
  return {
    name: i.name ?? '',
    lab: isOurs(i.tags) ? tags[LAB_KEY] : undefined,
    state: i.state?.name ?? 'unknown',
    publicIp: i.publicIpAddress || undefined,
    username: i.username,
    bundleId: i.bundleId,
    blueprintId: i.blueprintId,
    availabilityZone: i.location?.availabilityZone,
    keyPairName: i.sshKeyName,
    expiresAt: tags[EXPIRES_KEY],
    ours: isOurs(i.tags),
    tags,
  };
}

/** The instance called `name`, or undefined when it does not exist (NotFound is not an error). */
export async function getInstance(
  client: LightsailClient,
  name: string,
  opts: CloudOptions = {},
): Promise<LabInstance | undefined> {
  try {
    const out = await raw(() => client.send(new GetInstanceCommand({ instanceName: name })), opts);
    return out.instance ? toLab(out.instance) : undefined;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw translateAwsError(err, { action: `read instance ${name}` });
  }
}

/** What to create. `lab` defaults to `name`; tags are derived from it. */
export interface InstanceSpec {
  name: string;
  region: string;
  lab?: string;
  /** Default: the region's first available zone (from GetRegions). */
  availabilityZone?: string;
  /** ubuntu_22_04 (default), ubuntu_24_04 or debian_12. */
  blueprintId?: string;
  /** small_3_0 by default; nano_* is refused unless `allowNano`. */
  bundleId?: string;
  /** Accept a nano bundle; a 2 GB swap file is then added by the launch script. */
  allowNano?: boolean;
  keyPairName: string;
  /** From `--ttl`: tagged as ebpf-lab:expires. */
  expiresAt?: Date;
  /** Extra tags beyond ours. */
  extraTags?: Tag[];
  /** Launch script (a shell script starting with #!). */
  userData?: string;
}

/** Result of {@link ensureInstance}. */
export interface EnsureInstanceResult {
  action: 'created' | 'adopted';
  /** Present when adopted (a freshly created instance is read by waitForInstance). */
  instance?: LabInstance;
  change?: CloudChange;
  /** Things the user should know (e.g. adopted instance has another bundle). */
  notes: string[];
}

/** Launch-script lines that add a 2 GB swap file once (nano has 512 MB, too little for clang). */
export const SWAP_SCRIPT = hostScript('swap');

/** The launch script sent to Lightsail: the caller's script, with swap first when needed. */
export function buildUserData(userData: string | undefined, withSwap: boolean): string | undefined {
  if (!withSwap) return userData;
  if (userData && !/^#!/.test(userData)) throw new Error('userData must be a shell script (#!) when swap is added');
  const body = userData ? userData.replace(/^#![^\n]*\n?/, '') : '';
  return `#!/bin/bash\n${SWAP_SCRIPT}\n${body}`.trimEnd() + '\n';
}

function adoptOrRefuse(found: LabInstance, spec: InstanceSpec, lab: string): EnsureInstanceResult {
  if (!found.ours || found.lab !== lab) {
    const owner = found.ours ? `ebpf-lab's lab "${found.lab}"` : 'something that is not ebpf-lab';
    throw new UserError(
      `An instance named "${spec.name}" already exists in ${spec.region} and belongs to ${owner}; nothing was created`,
      'Choose another lab name (or --prefix), or delete that instance yourself if it is really unused.',
    );
  }
  const notes: string[] = [];
  const want = { bundleId: spec.bundleId ?? DEFAULT_BUNDLE, blueprintId: spec.blueprintId ?? DEFAULT_BLUEPRINT };
  if (found.bundleId && found.bundleId !== want.bundleId)
    notes.push(`adopted ${spec.name} keeps bundle ${found.bundleId} (asked for ${want.bundleId})`);
  if (found.blueprintId && found.blueprintId !== want.blueprintId)
    notes.push(`adopted ${spec.name} keeps blueprint ${found.blueprintId} (asked for ${want.blueprintId})`);
  return { action: 'adopted', instance: found, notes };
}

/**
 * Make sure instance `spec.name` exists: create it with our tags, or adopt it when it already
 * exists and is tagged as ebpf-lab's for this lab. A same-named instance without our tags is
 * refused with a UserError (exit 2) and nothing is created. A create that reports the name as
 * taken (our own earlier create whose response was lost, retried by the SDK) is resolved by
 * re-reading the instance and adopting it when tagged ours.
 */
export async function ensureInstance(
  client: LightsailClient,
  spec: InstanceSpec,
  opts: CloudOptions = {},
): Promise<EnsureInstanceResult> {
  const lab = spec.lab ?? spec.name;
  const blueprintId = spec.blueprintId ?? DEFAULT_BLUEPRINT;
  const bundleId = spec.bundleId ?? DEFAULT_BUNDLE;
  validateBlueprint(blueprintId);
  if (!/^\w[\w-]*\w$/.test(spec.name))
    throw new UserError(
      `"${spec.name}" is not a valid Lightsail instance name`,
      'Use letters, digits, "-" and "_", starting and ending with a letter or digit.',
    );
  const nano = isNanoBundle(bundleId);
  if (nano && !spec.allowNano) {
    throw new UserError(
      `bundle ${bundleId} has 512 MB of memory, too little to compile BPF programs`,
      `Use ${DEFAULT_BUNDLE} (2 GB, the default) or allow nano explicitly to get a 2 GB swap file (slow).`,
    );
  }

  const existing = await getInstance(client, spec.name, opts);
  if (existing) return adoptOrRefuse(existing, spec, lab);

  const zone = await pickAvailabilityZone(client, spec.region, spec.availabilityZone, opts);
  const userData = buildUserData(spec.userData, nano);
  const ctx = { action: `create instance ${spec.name}`, region: spec.region };
  try {
    const out = await raw(
      () =>
        client.send(
          new CreateInstancesCommand({
            instanceNames: [spec.name],
            availabilityZone: zone,
            blueprintId,
            bundleId,
            keyPairName: spec.keyPairName,
            tags: [...labTags(lab, { expiresAt: spec.expiresAt }), ...(spec.extraTags ?? [])],
            ...(userData ? { userData } : {}),
          }),
        ),
      opts,
    );
    const failed = (out.operations ?? []).find((o) => o.status === 'Failed');
    if (failed)
      throw new Error(
        `Could not create instance ${spec.name}: ${failed.errorCode ?? 'Failed'} ${failed.errorDetails ?? ''}`.trim(),
      );
  } catch (err) {
    if (!isNameTaken(err)) throw translateAwsError(err, ctx);
    const again = await getInstance(client, spec.name, opts);
    if (!again) throw translateAwsError(err, ctx);
    return adoptOrRefuse(again, spec, lab);
  }
  return {
    action: 'created',
    change: {
      kind: 'lightsail',
      instance: spec.name,
      action: 'create',
      detail: `${bundleId} ${blueprintId} in ${zone}`,
    },
    notes: nano ? [`${spec.name} uses ${bundleId} with a 2 GB swap file: BPF builds will be slow`] : [],
  };
}

/** Every instance tagged managed-by=ebpf-lab in the client's region (all pages). */
export async function listLabs(client: LightsailClient, opts: CloudOptions = {}): Promise<LabInstance[]> {
  const labs: LabInstance[] = [];
  let pageToken: string | undefined;
  do {
    const out = await call(
      () => client.send(new GetInstancesCommand({ pageToken })),
      { action: 'list instances' },
      opts,
    );
    for (const i of out.instances ?? []) if (isOurs(i.tags)) labs.push(toLab(i));
    pageToken = out.nextPageToken || undefined;
  } while (pageToken);
  return labs.sort((a, b) => a.name.localeCompare(b.name));
}

/** Labs whose ebpf-lab:expires tag is at or before `now` (ms). */
export function expiredLabs(labs: readonly LabInstance[], now: number): LabInstance[] {
  return labs.filter((l) => l.expiresAt !== undefined && Date.parse(l.expiresAt) <= now);
}

/**
 * Delete lab `name`'s instance and key pair, each only when tagged as ebpf-lab's for that lab.
 * A same-named instance without our tags is left alone and reported with a UserError.
 * Converges: an already-deleted instance or key pair is not an error.
 */
export async function destroyLab(
  client: LightsailClient,
  name: string,
  opts: CloudOptions & { lab?: string; keyPairName?: string } = {},
): Promise<CloudChange[]> {
  const lab = opts.lab ?? name;
  const changes: CloudChange[] = [];
  const found = await getInstance(client, name, opts);
  if (found && !(found.ours && found.lab === lab)) {
    throw new UserError(
      `Instance "${name}" is not tagged as ebpf-lab's lab "${lab}"; it was not deleted`,
      'ebpf-lab only deletes what it created. Delete it in the Lightsail console if you mean to.',
    );
  }
  if (found) {
    try {
      await raw(() => client.send(new DeleteInstanceCommand({ instanceName: name, forceDeleteAddOns: true })), opts);
      changes.push({ kind: 'lightsail', instance: name, action: 'delete' });
    } catch (err) {
      if (!isNotFound(err)) throw translateAwsError(err, { action: `delete instance ${name}` });
    }
  }
  const keyName = found?.keyPairName ?? opts.keyPairName;
  if (keyName && (await deleteKeyPairIfOurs(client, keyName, lab, opts))) {
    changes.push({ kind: 'lightsail-keypair', name: keyName, action: 'delete' });
  }
  return changes;
}

/**
 * The instance's SSH host keys as OpenSSH `algorithm base64` lines, for pinning. Empty when
 * Lightsail has none yet or will not say (then the caller trusts on first use).
 */
export async function hostKeysFor(client: LightsailClient, name: string, opts: CloudOptions = {}): Promise<string[]> {
  try {
    const out = await raw(
      () => client.send(new GetInstanceAccessDetailsCommand({ instanceName: name, protocol: 'ssh' })),
      opts,
    );
    return (out.accessDetails?.hostKeys ?? [])
      .filter((k) => k.algorithm && k.publicKey)
      .map((k) => `${k.algorithm} ${k.publicKey}`);
  } catch (err) {
    const e = err as Error;
    if (isNotFound(err) || /AccessDenied|InvalidInput|OperationFailure/.test(e.name ?? '')) return [];
    throw translateAwsError(err, { action: `read host keys of ${name}` });
  }
}
