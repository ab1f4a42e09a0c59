import type { LightsailClient } from '@aws-sdk/client-lightsail';
import { UserError } from '../errors.js';
import type { CloudOptions } from './api.js';
import { validateBundle } from './catalog.js';

/** Hours AWS uses to turn a monthly plan price into an hourly one. */
export const HOURS_PER_MONTH = 730;

/** What a fleet of `count` instances of one bundle costs, in USD, from GetBundles prices. */
export interface CostEstimate {
  bundleId: string;
  count: number;
  /** Price of one instance per month (as listed by Lightsail). */
  monthlyPerInstance: number;
  hourlyPerInstance: number;
  /** The whole fleet. */
  perHour: number;
  perDay: number;
  perMonth: number;
}

/** Pure arithmetic behind {@link estimateCost}: monthly price / 730 per hour, ×24 per day. */
export function costFromPrice(bundleId: string, monthlyPrice: number, count: number): CostEstimate {
  if (!Number.isInteger(count) || count < 1) throw new UserError(`count must be a positive integer, got ${count}`);
  const hourlyPerInstance = monthlyPrice / HOURS_PER_MONTH;
  return {
    bundleId,
    count,
    monthlyPerInstance: monthlyPrice,
    hourlyPerInstance,
    perHour: hourlyPerInstance * count,
    perDay: hourlyPerInstance * count * 24,
    perMonth: monthlyPrice * count,
  };
}

/**
 * Estimated cost of `count` instances of `bundleId`, priced from GetBundles (never from a
 * hard-coded table: prices change). Unknown bundle → UserError listing the choices.
 * Data transfer beyond the bundle's allowance and static IPs left unattached are not included.
 */
export async function estimateCost(
  client: LightsailClient,
  bundleId: string,
  count: number,
  opts: CloudOptions = {},
): Promise<CostEstimate> {
  const bundle = await validateBundle(client, bundleId, opts);
  return costFromPrice(bundleId, bundle.price, count);
}

/** One line for the confirmation prompt, e.g. "30 × small_3_0: $0.49/hour, $11.84/day (USD)". */
export function formatCost(c: CostEstimate): string {
  const usd = (n: number): string => `$${n.toFixed(2)}`;
  return `${c.count} × ${c.bundleId} (${usd(c.monthlyPerInstance)}/month each): ${usd(c.perHour)}/hour, ${usd(c.perDay)}/day for the fleet (USD, before data transfer)`;
}
