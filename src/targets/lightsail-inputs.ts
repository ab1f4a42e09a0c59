/**
 * Inputs of the Lightsail target and of workshop mode: flags first, then a config file
 * (`--config FILE`, JSON or YAML), then the AWS chain for the region, then — only on a
 * terminal — the prompts the command passes in. Without a terminal nothing waits: a missing value is a
 * UserError (exit 2) naming the flag. Everything is validated before any AWS resource exists.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { LightsailClient } from '@aws-sdk/client-lightsail';
import { UserError } from '../errors.js';
import { parseTtl } from '../cloud/tags.js';
import type { Interaction } from './target.js';

// Loaded at start-up through the target registry: the AWS SDK and yaml (~300 ms together)
// are imported only when a Lightsail input is actually resolved.
const catalog = () => import('../cloud/catalog.js');

/** Lightsail-related command-line flags (commander's camelCase names). */
export type LightsailFlags = {
  profile?: string;
  region?: string;
  bundle?: string;
  blueprint?: string;
  allowFrom?: string[];
  count?: string;
  prefix?: string;
  ttl?: string;
  expired?: boolean;
  config?: string;
  yes?: boolean;
};

/** What a config file may hold (every key optional). */
export interface FileConfig {
  region?: string;
  bundle?: string;
  blueprint?: string;
  count?: number;
  prefix?: string;
  allowFrom?: string[];
  ttl?: string;
  /** Fleet cap for accounts whose instance quota was raised above the default. */
  limit?: number;
}

/** Fully resolved inputs (region and bundle still to be checked against the API). */
export interface LightsailInputs {
  region: string;
  /** AWS profile (--profile, else AWS_PROFILE; undefined: the SDK's default chain). */
  profile?: string;
  bundleId: string;
  blueprintId: string;
  allowFrom?: string[];
  count?: number;
  prefix: string;
  ttlMs?: number;
  limit: number;
  yes: boolean;
  expired: boolean;
}

const KEYS = new Set(['region', 'bundle', 'blueprint', 'count', 'prefix', 'allowFrom', 'ttl', 'limit']);

/** Reads and checks a config file; unknown keys and wrong types are UserErrors. */
export async function readConfigFile(path: string): Promise<FileConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new UserError(
      `cannot read config file ${path} (${(e as NodeJS.ErrnoException).code})`,
      'check the --config path',
    );
  }
  let data: unknown;
  try {
    // YAML 1.2 is a superset of JSON. (require: yaml has a CommonJS build, and it is loaded
    // here only, outside the bundle; see scripts/bundle.mjs.)
    data = (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse(text);
  } catch (e) {
    throw new UserError(
      `config file ${path} is neither JSON nor YAML: ${(e as Error).message.split('\n')[0]}`,
      'for example:  region: eu-central-1   bundle: small_3_0   count: 12   prefix: lab   allowFrom: [203.0.113.0/24]',
    );
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data))
    throw new UserError(
      `config file ${path} must hold a mapping (region: …, count: …)`,
      'for example:  region: eu-central-1   bundle: small_3_0   count: 12   prefix: lab   allowFrom: [203.0.113.0/24]',
    );
  const out: FileConfig = {};
  for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
    if (!KEYS.has(k))
      throw new UserError(`config file ${path}: unknown key "${k}"`, `known keys: ${[...KEYS].join(', ')}`);
    const bad = (want: string) =>
      new UserError(
        `config file ${path}: "${k}" must be ${want}`,
        `fix that line, for example:  ${EXAMPLE[k] ?? `${k}: …`}`,
      );
    if (k === 'count' || k === 'limit') {
      if (typeof v !== 'number' || !Number.isInteger(v)) throw bad('an integer');
      out[k] = v;
    } else if (k === 'allowFrom') {
      const list = typeof v === 'string' ? [v] : v;
      if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) throw bad('a CIDR or a list of CIDRs');
      out.allowFrom = list as string[];
    } else {
      if (typeof v !== 'string') throw bad('a string');
      (out as Record<string, string>)[k] = v;
    }
  }
  return out;
}

/** One well-formed line per config key, for the hint of a malformed one. */
const EXAMPLE: Record<string, string> = {
  region: 'region: eu-central-1',
  bundle: 'bundle: small_3_0',
  blueprint: 'blueprint: ubuntu_22_04',
  count: 'count: 12',
  limit: 'limit: 4',
  prefix: 'prefix: lab',
  ttl: 'ttl: 8h',
  allowFrom: 'allowFrom: [203.0.113.0/24]',
};

function parseCount(raw: string | number | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const s = String(raw).trim();
  if (!/^-?\d+$/.test(s))
    throw new UserError(`--count must be a whole number, not "${raw}"`, 'for example: --count 30');
  return Number(s);
}

/** GetRegions works from any region: list from us-east-1 when the user has none yet. */
async function promptRegion(client: (region: string) => LightsailClient, io: Interaction): Promise<string> {
  const regions = await (await catalog()).listRegions(client('us-east-1'));
  return io.prompter.select({
    message: 'AWS region for the lab(s)',
    choices: regions.map((r) => ({ name: `${r.name}  ${r.displayName}`, value: r.name })),
  });
}

async function promptBundle(client: LightsailClient, io: Interaction): Promise<string> {
  const { DEFAULT_BUNDLE, listBundles } = await catalog();
  const bundles = await listBundles(client);
  return io.prompter.select({
    message: 'Instance size (bundle) per lab',
    default: bundles.some((b) => b.bundleId === DEFAULT_BUNDLE) ? DEFAULT_BUNDLE : undefined,
    choices: bundles.map((b) => ({
      name: `${b.bundleId.padEnd(12)} $${b.price}/month  ${b.cpuCount} vCPU  ${b.ramSizeInGb} GB RAM${b.bundleId === DEFAULT_BUNDLE ? '  (recommended)' : ''}`,
      value: b.bundleId,
    })),
  });
}

/**
 * Resolves region, bundle, blueprint, allow-from, count, prefix and TTL. `workshop` asks for
 * a count and (on a terminal, when no flag, file or --yes settles it) a bundle; a single lab
 * keeps the default bundle. `knownRegion` (where the lab registry says a lab lives) beats the AWS chain.
 */
export async function resolveInputs(o: {
  flags: LightsailFlags;
  io: Interaction;
  /** A client for a region (and the resolved profile). */
  client: (region: string, profile?: string) => LightsailClient;
  workshop?: boolean;
  needCount?: boolean;
  knownRegion?: string;
}): Promise<LightsailInputs> {
  const f = o.flags;
  const file = f.config ? await readConfigFile(f.config) : {};
  const tty = o.io.isTTY();
  if (f.profile !== undefined && !/^[\w+=,.@-]{1,64}$/.test(f.profile))
    throw new UserError(
      `--profile "${f.profile}" is not an AWS profile name`,
      'give the name of a [profile NAME] section of ~/.aws/config, e.g. --profile training',
    );
  const profile = f.profile || process.env['AWS_PROFILE'] || undefined;
  // The region of the chosen profile: resolveRegion reads AWS_PROFILE from the env it is given.
  const env = f.profile ? { ...process.env, AWS_PROFILE: f.profile } : process.env;
  const client = (region: string) => o.client(region, profile);
  const { resolveRegion } = await import('../cloud/region.js');
  const { DEFAULT_BLUEPRINT, DEFAULT_BUNDLE } = await catalog();
  const { parseCidr } = await import('../cloud/ports.js');
  const limit = file.limit ?? (await import('../cloud/lightsail-fleet.js')).DEFAULT_FLEET_LIMIT;
  if (!(Number.isInteger(limit) && limit >= 1)) throw new UserError(`limit must be a positive integer, got ${limit}`);
  const ttlRaw = f.ttl ?? file.ttl;
  const ttlMs = ttlRaw === undefined ? undefined : parseTtl(ttlRaw);
  if (ttlRaw !== undefined && ttlMs === undefined)
    throw new UserError(`--ttl "${ttlRaw}" is not a duration`, 'use minutes, hours or days: 90m, 8h, 2d');
  const allowFrom = f.allowFrom?.length
    ? f.allowFrom
        .flatMap((s) => s.split(','))
        .map((s) => s.trim())
        .filter(Boolean)
    : file.allowFrom;
  allowFrom?.forEach(parseCidr); // a bad CIDR stops here, before any API call
  const prefix = f.prefix ?? file.prefix ?? 'lab';

  let count = parseCount(f.count) ?? file.count;
  if (count === undefined && o.needCount) {
    if (!tty)
      throw new UserError(
        '--count is required: how many labs (one per attendee)?',
        'for example: ebpf-lab workshop up --count 30 --yes',
      );
    count = await o.io.prompter.number({ message: `How many labs (1-${limit})?`, min: 1, max: limit });
    if (count === undefined) throw new UserError('no count given');
  }
  // count and prefix are checked before anything else is asked
  if (o.needCount) (await import('../cloud/lightsail-fleet.js')).labNames(prefix, count ?? 0, limit);

  let region = f.region ?? file.region ?? o.knownRegion;
  if (region === undefined) {
    try {
      region = await resolveRegion({ profile: f.profile, env });
    } catch (e) {
      if (!(e instanceof UserError) || !/No AWS region/.test(e.message)) throw e;
      if (tty) region = await promptRegion(client, o.io);
      else throw e;
    }
  } else {
    region = await resolveRegion({ flag: region, profile: f.profile, env }); // checks the shape
  }

  let bundleId = f.bundle ?? file.bundle;
  // --yes means "no questions": the default bundle then, not a prompt
  if (bundleId === undefined)
    bundleId = o.workshop && tty && !f.yes ? await promptBundle(client(region), o.io) : DEFAULT_BUNDLE;
  const blueprintId = f.blueprint ?? file.blueprint ?? DEFAULT_BLUEPRINT;
  return {
    region,
    ...(profile ? { profile } : {}),
    bundleId,
    blueprintId,
    allowFrom,
    count,
    prefix,
    ttlMs,
    limit,
    yes: Boolean(f.yes),
    expired: Boolean(f.expired),
  };
}
