import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { LightsailClient } from '@aws-sdk/client-lightsail';
import { UserError } from '../errors.js';

/** Shape of an AWS region name (us-east-1, ap-southeast-2, us-gov-west-1). */
const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

/**
 * The region to use, in this order: `--region` flag, AWS_REGION, AWS_DEFAULT_REGION (which the
 * JS SDK v3 ignores, unlike the AWS CLI), then the profile's `region` from ~/.aws/config.
 * Resolved here and passed to the client explicitly because the SDK's own resolution skips
 * AWS_DEFAULT_REGION and has had bugs with `profile` + region (aws-sdk-js-v3 #3469, #5471).
 * Throws UserError when none is set or the value is not shaped like a region.
 */
export function resolveRegion(input: {
  flag?: string;
  env?: NodeJS.ProcessEnv;
  /** Override for tests; default reads the profile's region from the shared config file. */
  profileRegion?: () => string | undefined;
}): string {
  const env = input.env ?? process.env;
  const candidates: Array<[string, string | undefined]> = [
    ['--region', input.flag],
    ['AWS_REGION', env.AWS_REGION],
    ['AWS_DEFAULT_REGION', env.AWS_DEFAULT_REGION],
  ];
  let found = candidates.find(([, v]) => v !== undefined && v.trim() !== '');
  if (!found) {
    const fromProfile = (input.profileRegion ?? (() => profileRegion(env)))();
    if (fromProfile) found = [`region of AWS profile "${env.AWS_PROFILE || 'default'}"`, fromProfile];
  }
  if (!found) {
    throw new UserError(
      'No AWS region is set',
      'Pass --region (e.g. --region eu-central-1), set AWS_REGION, or add `region = …` to your profile in ~/.aws/config.',
    );
  }
  const [source, value] = found as [string, string];
  const region = value.trim();
  if (!REGION_RE.test(region)) {
    throw new UserError(
      `"${region}" (from ${source}) is not an AWS region name`,
      'Use a region such as us-east-1, eu-central-1 or ap-northeast-1.',
    );
  }
  return region;
}

/**
 * `region` of the active profile (AWS_PROFILE or "default") in AWS_CONFIG_FILE or
 * ~/.aws/config; undefined when the file or the key is absent. Only the plain INI form the
 * AWS CLI writes is read (`[default]`, `[profile name]`, `key = value`).
 */
export function profileRegion(
  env: NodeJS.ProcessEnv = process.env,
  read: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): string | undefined {
  const file = env.AWS_CONFIG_FILE || join(homedir(), '.aws', 'config');
  let text: string;
  try {
    text = read(file);
  } catch {
    return undefined;
  }
  const profile = env.AWS_PROFILE || env.AWS_DEFAULT_PROFILE || 'default';
  const wanted = profile === 'default' ? ['default', 'profile default'] : [`profile ${profile}`];
  let inSection = false;
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.replace(/[#;].*$/, '').trim();
    const section = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (section) {
      inSection = wanted.includes((section[1] as string).replace(/\s+/g, ' '));
      continue;
    }
    const kv = /^region\s*=\s*(\S+)$/.exec(line);
    if (inSection && kv) return kv[1];
  }
  return undefined;
}

/**
 * A Lightsail client for `region`. Credentials follow the SDK's default chain (env, SSO,
 * shared files, process, metadata); `profile` selects a named profile explicitly.
 * More SDK attempts than the default 3 because fleets of creates hit the rate limit.
 */
export function createLightsailClient(opts: {
  region: string;
  profile?: string;
  maxAttempts?: number;
}): LightsailClient {
  return new LightsailClient({
    region: opts.region,
    ...(opts.profile ? { profile: opts.profile } : {}),
    maxAttempts: opts.maxAttempts ?? 5,
  });
}
