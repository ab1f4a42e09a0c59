import { loadSharedConfigFiles } from '@smithy/shared-ini-file-loader';
import { LightsailClient } from '@aws-sdk/client-lightsail';
import { UserError } from '../errors.js';

/** Shape of an AWS region name (us-east-1, ap-southeast-2, us-gov-west-1). */
const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

/**
 * The AWS profile in use: `profile` (the `--profile` flag) when given, else AWS_PROFILE, else
 * "default" — the order of the SDK's own `getProfileName`, computed from `env` so tests can
 * pass their own environment.
 */
export function activeProfile(profile?: string, env: NodeJS.ProcessEnv = process.env): string {
  return profile?.trim() || env['AWS_PROFILE']?.trim() || 'default';
}

/**
 * The region to use, in this order: `--region` flag, AWS_REGION, AWS_DEFAULT_REGION (which the
 * JS SDK v3 ignores, unlike the AWS CLI), then the `region` of the active profile (`profile`,
 * else AWS_PROFILE, else default) as the SDK's shared-config loader reads it. Resolved here and
 * passed to the client explicitly because the SDK's own resolution skips AWS_DEFAULT_REGION and
 * has had bugs with `profile` + region (aws-sdk-js-v3 #3469, #5471).
 * Throws UserError when none is set or the value is not shaped like a region.
 */
export async function resolveRegion(input: {
  flag?: string;
  /** The named AWS profile (`--profile`); default AWS_PROFILE, then "default". */
  profile?: string;
  env?: NodeJS.ProcessEnv;
  /** Override for tests; default reads the profile's region with {@link profileRegion}. */
  profileRegion?: (profile: string) => Promise<string | undefined> | string | undefined;
}): Promise<string> {
  const env = input.env ?? process.env;
  const candidates: Array<[string, string | undefined]> = [
    ['--region', input.flag],
    ['AWS_REGION', env['AWS_REGION']],
    ['AWS_DEFAULT_REGION', env['AWS_DEFAULT_REGION']],
  ];
  let found = candidates.find(([, v]) => v !== undefined && v.trim() !== '');
  const profile = activeProfile(input.profile, env);
  if (!found) {
    const fromProfile = await (input.profileRegion ?? ((p: string) => profileRegion(p, env)))(profile);
    if (fromProfile) found = [`region of AWS profile "${profile}"`, fromProfile];
  }
  if (!found) {
    throw new UserError(
      'No AWS region is set',
      `Pass --region (e.g. --region eu-central-1), set AWS_REGION, or add \`region = …\` to the profile "${profile}" in ~/.aws/config.`,
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
 * `region` of `profile` in the shared AWS files (AWS_CONFIG_FILE or ~/.aws/config, then
 * AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials), read by the SDK's own shared-config
 * loader (the parser the SDK's credential and region providers use: `[profile name]` and
 * `[name]` sections, comments, sub-sections); undefined when the files or the key are absent.
 */
export async function profileRegion(
  profile: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  const files = await loadSharedConfigFiles({
    ignoreCache: true,
    ...(env['AWS_CONFIG_FILE'] ? { configFilepath: env['AWS_CONFIG_FILE'] } : {}),
    ...(env['AWS_SHARED_CREDENTIALS_FILE'] ? { filepath: env['AWS_SHARED_CREDENTIALS_FILE'] } : {}),
  });
  const region = files.configFile[profile]?.['region'] ?? files.credentialsFile[profile]?.['region'];
  return region?.trim() || undefined;
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
