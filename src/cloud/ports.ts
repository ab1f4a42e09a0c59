import { isIPv4, isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';
import {
  GetInstancePortStatesCommand,
  PutInstancePublicPortsCommand,
  type InstancePortState,
  type LightsailClient,
  type PortInfo,
} from '@aws-sdk/client-lightsail';
import { UserError } from '../errors.js';
import { GRAFANA_PORT, HTTP_PORT } from '../lab/layout.js';
import { call, type CloudOptions } from './api.js';
import type { CloudChange } from './lightsail.js';

/** The only public ports of a lab: SSH, the lab's web app (apache2) and Grafana. */
export const LAB_PORTS = [22, HTTP_PORT, GRAFANA_PORT] as const;

/** A CIDR split by family, in canonical form (see {@link canonicalCidr}). */
export interface ParsedCidr {
  family: 4 | 6;
  cidr: string;
}

/**
 * Validate one `--allow-from` value; UserError (exit 2) when it is not an IPv4/IPv6 CIDR.
 * A bare address becomes /32 or /128. The result is canonical, as the firewall stores it.
 */
export function parseCidr(input: string): ParsedCidr {
  const value = input.trim();
  const [addr = '', prefix, extra] = value.split('/');
  const family = isIPv4(addr) ? 4 : isIPv6(addr) ? 6 : undefined;
  const max = family === 4 ? 32 : 128;
  const bits = prefix === undefined ? max : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  if (!family || extra !== undefined || !(bits >= 0 && bits <= max)) {
    throw new UserError(
      `--allow-from "${input}" is not a CIDR`,
      'Use an address range such as 203.0.113.0/24, 198.51.100.7/32 or 2001:db8::/32.',
    );
  }
  return { family, cidr: canonicalCidr(`${addr}/${bits}`) };
}

/**
 * The canonical text of a CIDR, so that two spellings of one range compare equal: the
 * network address (host bits cleared) in its shortest form — IPv6 per RFC 5952 (lower case,
 * no leading zeros, the longest run of zero groups as `::`), by ipaddr.js — and the prefix
 * length. `2001:0DB8:0:0::1/32` becomes `2001:db8::/32`. A value that is not a CIDR (the API
 * should never return one) is returned trimmed and lower-cased, so it still compares as itself.
 */
export function canonicalCidr(cidr: string): string {
  const v = cidr.trim();
  try {
    const [addr, bits] = ipaddr.parseCIDR(v);
    const network =
      addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(v) : ipaddr.IPv6.networkAddressFromCIDR(v);
    return `${network.toString()}/${bits}`;
  } catch {
    return v.toLowerCase();
  }
}

/** The exact port set for a lab: tcp 22/80/3000 from `allowFrom` (default everyone, IPv4 and IPv6). */
export function desiredPorts(allowFrom?: readonly string[]): PortInfo[] {
  const open = !allowFrom || allowFrom.length === 0;
  const parsed = open ? [] : allowFrom.map(parseCidr);
  const cidrs = open ? ['0.0.0.0/0'] : parsed.filter((p) => p.family === 4).map((p) => p.cidr);
  const ipv6Cidrs = open ? ['::/0'] : parsed.filter((p) => p.family === 6).map((p) => p.cidr);
  return LAB_PORTS.map((port) => ({ fromPort: port, toPort: port, protocol: 'tcp', cidrs, ipv6Cidrs }));
}

/**
 * Canonical, order-independent form of a rule set, for comparing desired and observed: CIDRs
 * of both sides in canonical form ({@link canonicalCidr}), so the API's `2001:db8::/32` equals
 * a desired `2001:0db8::/32`.
 */
function canonical(rules: ReadonlyArray<PortInfo | InstancePortState>): string {
  return rules
    .filter((r) => (r as InstancePortState).state === undefined || (r as InstancePortState).state === 'open')
    .map((r) =>
      JSON.stringify([
        r.protocol ?? '',
        r.fromPort ?? -1,
        r.toPort ?? -1,
        [...new Set((r.cidrs ?? []).map(canonicalCidr))].sort(),
        [...new Set((r.ipv6Cidrs ?? []).map(canonicalCidr))].sort(),
        [...(r.cidrListAliases ?? [])].sort(),
      ]),
    )
    .sort()
    .join('\n');
}

/** Result of {@link ensurePorts}. */
export interface EnsurePortsResult {
  changed: boolean;
  change?: CloudChange;
  /** Set when the ports are open to the whole internet (the default). */
  note?: string;
}

/**
 * Converge the instance's public firewall to exactly tcp 22, 80 and 3000 from `allowFrom`
 * (or everyone). Reads GetInstancePortStates first and calls PutInstancePublicPorts (which
 * replaces the whole set, closing anything else such as browser SSH) only when they differ.
 * Prometheus (9090) and the exporter stay on the instance's loopback.
 */
export async function ensurePorts(
  client: LightsailClient,
  name: string,
  opts: CloudOptions & { allowFrom?: readonly string[] } = {},
): Promise<EnsurePortsResult> {
  const desired = desiredPorts(opts.allowFrom); // validates CIDRs before any API call
  const open = !opts.allowFrom || opts.allowFrom.length === 0;
  const note = open
    ? `ports ${LAB_PORTS.join(', ')} of ${name} are open to everyone; use --allow-from <CIDR> to restrict them`
    : undefined;
  const current = await call(
    () => client.send(new GetInstancePortStatesCommand({ instanceName: name })),
    { action: `read the firewall of ${name}` },
    opts,
  );
  if (canonical(current.portStates ?? []) === canonical(desired)) return { changed: false, note };
  await call(
    () => client.send(new PutInstancePublicPortsCommand({ instanceName: name, portInfos: desired })),
    { action: `set the firewall of ${name}` },
    opts,
  );
  const from = open ? 'everyone' : (opts.allowFrom ?? []).join(', ');
  return {
    changed: true,
    note,
    change: {
      kind: 'lightsail',
      instance: name,
      action: 'update',
      detail: `public ports tcp ${LAB_PORTS.join(', ')} from ${from}`,
    },
  };
}
