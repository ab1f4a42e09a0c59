import { GetBundlesCommand, GetRegionsCommand, type LightsailClient } from '@aws-sdk/client-lightsail';
import { UserError } from '../errors.js';
import { call, type CloudOptions } from './api.js';

/** A Lightsail region with its availability zones. */
export interface RegionInfo {
  name: string;
  displayName: string;
  /** Zones whose state is "available", in the order Lightsail lists them. */
  zones: string[];
}

/** A Linux bundle (instance plan) with public IPv4, as offered for labs. */
export interface BundleInfo {
  bundleId: string;
  name: string;
  /** Monthly price in USD. */
  price: number;
  cpuCount: number;
  ramSizeInGb: number;
  diskSizeInGb: number;
}

/** Blueprints a lab may use; Ubuntu 22.04 is the workshop's OS. */
export const ALLOWED_BLUEPRINTS = ['ubuntu_22_04', 'ubuntu_24_04', 'debian_12'] as const;
export const DEFAULT_BLUEPRINT = 'ubuntu_22_04';
/** 2 GB: BPF programs are compiled on the instance with clang. */
export const DEFAULT_BUNDLE = 'small_3_0';

/** Regions Lightsail offers (with available zones). */
export async function listRegions(client: LightsailClient, opts: CloudOptions = {}): Promise<RegionInfo[]> {
  const out = await call(
    () => client.send(new GetRegionsCommand({ includeAvailabilityZones: true })),
    { action: 'list Lightsail regions' },
    opts,
  );
  return (out.regions ?? []).map((r) => ({
    name: String(r.name ?? ''),
    displayName: r.displayName ?? String(r.name ?? ''),
    zones: (r.availabilityZones ?? [])
      .filter((z) => z.state === 'available' && z.zoneName)
      .map((z) => z.zoneName as string),
  }));
}

/** UserError (exit 2) listing the valid regions unless `region` is one of them. */
export async function validateRegion(
  client: LightsailClient,
  region: string,
  opts: CloudOptions = {},
): Promise<RegionInfo> {
  const regions = await listRegions(client, opts);
  const found = regions.find((r) => r.name === region);
  if (!found) {
    throw new UserError(
      `"${region}" is not a Lightsail region`,
      `Choose one of: ${regions.map((r) => r.name).join(', ')}`,
    );
  }
  return found;
}

/**
 * The availability zone to create in: `wanted` when it is an available zone of the region,
 * else the first available one. Never assumes `${region}a` (not every region has it available).
 */
export async function pickAvailabilityZone(
  client: LightsailClient,
  region: string,
  wanted?: string,
  opts: CloudOptions = {},
): Promise<string> {
  const info = await validateRegion(client, region, opts);
  if (wanted !== undefined) {
    if (!info.zones.includes(wanted)) {
      throw new UserError(
        `availability zone "${wanted}" is not available in ${region}`,
        `Choose one of: ${info.zones.join(', ') || '(none available)'}`,
      );
    }
    return wanted;
  }
  const zone = info.zones[0];
  if (!zone) throw new UserError(`Lightsail reports no available zone in ${region}`, 'Try another region.');
  return zone;
}

/** Active Linux bundles that come with a public IPv4 address (labs are reached over IPv4). */
export async function listBundles(client: LightsailClient, opts: CloudOptions = {}): Promise<BundleInfo[]> {
  const bundles: BundleInfo[] = [];
  let pageToken: string | undefined;
  do {
    const out = await call(
      () => client.send(new GetBundlesCommand({ includeInactive: false, pageToken })),
      { action: 'list Lightsail bundles' },
      opts,
    );
    for (const b of out.bundles ?? []) {
      if (!b.bundleId || b.isActive === false) continue;
      if (b.supportedPlatforms && !b.supportedPlatforms.includes('LINUX_UNIX')) continue;
      if (b.publicIpv4AddressCount === 0) continue;
      bundles.push({
        bundleId: b.bundleId,
        name: b.name ?? b.bundleId,
        price: b.price ?? 0,
        cpuCount: b.cpuCount ?? 0,
        ramSizeInGb: b.ramSizeInGb ?? 0,
        diskSizeInGb: b.diskSizeInGb ?? 0,
      });
    }
    pageToken = out.nextPageToken || undefined;
  } while (pageToken);
  return bundles.sort((a, b) => a.price - b.price);
}

/** True for the 512 MB bundles, too small to compile BPF programs without swap. */
export function isNanoBundle(bundleId: string): boolean {
  return /^nano_/.test(bundleId);
}

/** The bundle's details, or a UserError (exit 2) listing the valid choices. */
export async function validateBundle(
  client: LightsailClient,
  bundleId: string,
  opts: CloudOptions = {},
): Promise<BundleInfo> {
  const bundles = await listBundles(client, opts);
  const found = bundles.find((b) => b.bundleId === bundleId);
  if (!found) {
    const choices = bundles.map((b) => `${b.bundleId} ($${b.price}/month, ${b.ramSizeInGb} GB)`).join(', ');
    throw new UserError(`"${bundleId}" is not an active Linux bundle with public IPv4`, `Choose one of: ${choices}`);
  }
  return found;
}

/** UserError unless the blueprint is one this tool supports. */
export function validateBlueprint(blueprintId: string): void {
  if (!(ALLOWED_BLUEPRINTS as readonly string[]).includes(blueprintId)) {
    throw new UserError(
      `blueprint "${blueprintId}" is not supported`,
      `Choose one of: ${ALLOWED_BLUEPRINTS.join(', ')}`,
    );
  }
}
