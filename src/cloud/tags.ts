import type { Tag } from '@aws-sdk/client-lightsail';

/** Tag key/value marking a resource as created by this tool. */
export const MANAGED_BY_KEY = 'managed-by';
export const MANAGED_BY_VALUE = 'ebpf-lab';
/** Tag key holding the lab name a resource belongs to. */
export const LAB_KEY = 'ebpf-lab:lab';
/** Tag key holding an ISO-8601 expiry (`--ttl`), honoured by `workshop down --expired`. */
export const EXPIRES_KEY = 'ebpf-lab:expires';

/** The tags put on every instance and key pair of lab `lab`. */
export function labTags(lab: string, opts: { expiresAt?: Date } = {}): Tag[] {
  const tags: Tag[] = [
    { key: MANAGED_BY_KEY, value: MANAGED_BY_VALUE },
    { key: LAB_KEY, value: lab },
  ];
  if (opts.expiresAt) tags.push({ key: EXPIRES_KEY, value: opts.expiresAt.toISOString() });
  return tags;
}

/** Lightsail's tag list as a plain map (later duplicates win). */
export function tagMap(tags: readonly Tag[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) if (t.key) out[t.key] = t.value ?? '';
  return out;
}

/**
 * True when the tags say "created by ebpf-lab" and, when `lab` is given, "for that lab".
 * This is the only ownership test used before adopting or deleting anything.
 */
export function isOurs(tags: readonly Tag[] | undefined, lab?: string): boolean {
  const m = tagMap(tags);
  if (m[MANAGED_BY_KEY] !== MANAGED_BY_VALUE) return false;
  return lab === undefined || m[LAB_KEY] === lab;
}

/** Expiry time from `--ttl` such as "8h", "2d", "90m"; UserError-free: returns undefined on bad input. */
export function parseTtl(ttl: string): number | undefined {
  const m = /^(\d+)\s*([mhd])$/.exec(ttl.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'];
  return n > 0 ? n * unit : undefined;
}
