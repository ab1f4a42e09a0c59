// Substitute: the Lightsail API is aws-sdk-client-mock; SDK errors are built from the real classes.
import {
  AccountSetupInProgressException,
  GetBundlesCommand,
  GetInstanceCommand,
  GetInstancesCommand,
  InvalidInputException,
  LightsailClient,
  NotFoundException,
  RegionSetupInProgressException,
  UnauthenticatedException,
} from '@aws-sdk/client-lightsail';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { validateBundle } from '../../src/cloud/catalog.js';
import { translateAwsError } from '../../src/cloud/errors.js';
import { getInstance, listLabs } from '../../src/cloud/lightsail.js';
import { activeProfile, profileRegion, resolveRegion } from '../../src/cloud/region.js';

const lightsail = mockClient(LightsailClient);
const client = new LightsailClient({ region: 'eu-central-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
const ctx = { action: 'list instances', region: 'eu-central-1' };
const throttle = (): Error => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });

beforeEach(() => lightsail.reset());

describe('modelled errors become messages with a fix', () => {
  it('an unreachable API endpoint is a message with a fix (exit 2), not an internal error', () => {
    for (const err of [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('connect ETIMEDOUT 10.255.255.1:443'), { code: 'ETIMEDOUT' }),
      Object.assign(new Error('getaddrinfo EAI_AGAIN lightsail.eu-central-1.amazonaws.com'), { code: 'EAI_AGAIN' }),
      Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }),
    ]) {
      const e = translateAwsError(err, ctx) as UserError;
      expect(e).toBeInstanceOf(UserError);
      expect(e.message).toMatch(
        /^Could not list instances in region eu-central-1: the Lightsail API endpoint cannot be reached/,
      );
      expect(e.hint).toMatch(/network connection and any proxy/);
    }
  });

  it('AccountSetupInProgress and RegionSetupInProgress say to wait a few minutes', async () => {
    lightsail
      .on(GetInstancesCommand)
      .rejectsOnce(new AccountSetupInProgressException({ message: 'setting up', $metadata: {} }));
    const err = await listLabs(client).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/account is still being set up/);
    expect(err.hint).toMatch(/Wait a few minutes/);
    const r = translateAwsError(new RegionSetupInProgressException({ message: 'x', $metadata: {} }), ctx) as UserError;
    expect(r.hint).toMatch(/Wait a few minutes/);
  });

  it('InvalidInput is a UserError carrying the API message; NotFound outside a lookup is not', () => {
    const bad = translateAwsError(
      new InvalidInputException({ message: 'bundle xl_9 is not available', $metadata: {} }),
      ctx,
    );
    expect(bad).toBeInstanceOf(UserError);
    expect(bad.message).toMatch(/in region eu-central-1: Lightsail refused the input \(bundle xl_9 is not available\)/);
    const nf = translateAwsError(new NotFoundException({ message: 'gone', $metadata: {} }), ctx);
    expect(nf).not.toBeInstanceOf(UserError);
    expect(nf.cause).toBeInstanceOf(NotFoundException);
  });

  it('missing credentials name the env vars, profile and aws sso login', () => {
    const e = translateAwsError(
      Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }),
      ctx,
    ) as UserError;
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(/no AWS credentials were found/);
    for (const word of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_PROFILE', 'aws sso login'])
      expect(e.hint).toContain(word);
    const sso = translateAwsError(
      Object.assign(new Error('The SSO session associated with this profile has expired'), {
        name: 'TokenProviderError',
      }),
      ctx,
    ) as UserError;
    expect(sso.hint).toMatch(/aws sso login/);
  });

  it('rejected credentials and unknown regions are user errors', () => {
    expect(translateAwsError(new UnauthenticatedException({ message: 'x', $metadata: {} }), ctx).message).toMatch(
      /rejected the credentials/,
    );
    expect(
      translateAwsError(Object.assign(new Error('token invalid'), { name: 'UnrecognizedClientException' }), ctx),
    ).toBeInstanceOf(UserError);
    const dns = translateAwsError(
      Object.assign(new Error('getaddrinfo ENOTFOUND lightsail.xx-east-9.amazonaws.com'), { code: 'ENOTFOUND' }),
      ctx,
    );
    expect(dns).toBeInstanceOf(UserError);
    expect(dns.message).toMatch(/not a region where Lightsail is available/);
    expect(translateAwsError(new Error('Region is missing'), ctx)).toBeInstanceOf(UserError);
  });

  it('an unexpected error keeps its cause and says what was attempted', () => {
    const boom = Object.assign(new Error('boom'), { name: 'ServiceException' });
    const e = translateAwsError(boom, ctx);
    expect(e).not.toBeInstanceOf(UserError);
    expect(e.message).toBe('Could not list instances in region eu-central-1: ServiceException: boom');
    expect(e.cause).toBe(boom);
  });
});

describe('throttling inside API calls', () => {
  it('backs off exponentially then succeeds', async () => {
    lightsail
      .on(GetInstanceCommand)
      .rejectsOnce(throttle())
      .rejectsOnce(throttle())
      .rejectsOnce(throttle())
      .resolves({ instance: { name: 'lab-01', state: { name: 'running' } } });
    const slept: number[] = [];
    const inst = await getInstance(client, 'lab-01', {
      sleep: async (ms) => void slept.push(ms),
      retry: { random: () => 0 },
    });
    expect(inst?.state).toBe('running');
    expect(slept).toEqual([500, 1000, 2000]);
  });

  it('gives up after the retry budget with a message about throttling', async () => {
    lightsail.on(GetInstancesCommand).rejects(throttle());
    const slept: number[] = [];
    const err = await listLabs(client, {
      sleep: async (ms) => void slept.push(ms),
      retry: { retries: 2, random: () => 0 },
    }).catch((e) => e);
    expect(err.message).toMatch(/kept throttling/);
    expect(slept).toHaveLength(2);
    expect(lightsail.commandCalls(GetInstancesCommand)).toHaveLength(3);
  });
});

describe('validateBundle', () => {
  it('lists the valid Linux IPv4 bundles when the bundle is unknown', async () => {
    lightsail.on(GetBundlesCommand).resolves({
      bundles: [
        {
          bundleId: 'small_3_0',
          price: 12,
          ramSizeInGb: 2,
          isActive: true,
          supportedPlatforms: ['LINUX_UNIX'],
          publicIpv4AddressCount: 1,
        },
        { bundleId: 'nano_3_0', price: 5, ramSizeInGb: 0.5, isActive: true, supportedPlatforms: ['LINUX_UNIX'] },
        { bundleId: 'small_win_3_0', price: 20, isActive: true, supportedPlatforms: ['WINDOWS'] },
        {
          bundleId: 'nano_ipv6_3_0',
          price: 3.5,
          isActive: true,
          supportedPlatforms: ['LINUX_UNIX'],
          publicIpv4AddressCount: 0,
        },
      ],
    });
    const err = await validateBundle(client, 'huge_9').catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.hint).toBe('Choose one of: nano_3_0 ($5/month, 0.5 GB), small_3_0 ($12/month, 2 GB)');
    expect((await validateBundle(client, 'small_3_0')).price).toBe(12);
  });
});

describe('resolveRegion', () => {
  const none = () => undefined;
  it('takes --region, then AWS_REGION, then AWS_DEFAULT_REGION, then the profile', async () => {
    const env = { AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'us-west-2' };
    expect(await resolveRegion({ flag: 'ap-south-1', env, profileRegion: none })).toBe('ap-south-1');
    expect(await resolveRegion({ env, profileRegion: none })).toBe('eu-west-1');
    expect(await resolveRegion({ env: { AWS_DEFAULT_REGION: 'us-west-2' }, profileRegion: none })).toBe('us-west-2');
    expect(await resolveRegion({ env: {}, profileRegion: () => 'ca-central-1' })).toBe('ca-central-1');
  });

  it('is a UserError when missing or malformed', async () => {
    await expect(resolveRegion({ env: {}, profileRegion: none })).rejects.toThrow(UserError);
    await expect(resolveRegion({ flag: 'Frankfurt', env: {}, profileRegion: none })).rejects.toThrow(
      /"Frankfurt" \(from --region\) is not an AWS region/,
    );
  });

  // Real files read by the SDK's shared-config loader (@smithy/shared-ini-file-loader).
  describe('the profile region, from the shared AWS files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ebpf-lab-aws-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const config = join(dir, 'config');
    const credentials = join(dir, 'credentials');
    writeFileSync(
      config,
      '[default]\nregion = us-east-1\n\n[profile work]\n# comment\nregion=eu-north-1\ns3 =\n  max_concurrent_requests = 4\n[profile other]\nregion = sa-east-1\n',
    );
    // The SDK also reads `region` from the credentials file (the former hand-written parser did not).
    writeFileSync(
      credentials,
      '[ci]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = x\nregion = ap-southeast-2\n',
    );
    const env = { AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: credentials };

    it('default profile, AWS_PROFILE, and --profile (which wins over AWS_PROFILE)', async () => {
      expect(await resolveRegion({ env })).toBe('us-east-1');
      expect(await resolveRegion({ env: { ...env, AWS_PROFILE: 'work' } })).toBe('eu-north-1');
      expect(await resolveRegion({ env: { ...env, AWS_PROFILE: 'work' }, profile: 'other' })).toBe('sa-east-1');
      expect(await resolveRegion({ env, profile: 'ci' })).toBe('ap-southeast-2');
      expect(activeProfile(undefined, {})).toBe('default');
      expect(activeProfile('other', { AWS_PROFILE: 'work' })).toBe('other');
    });

    it('an unknown profile or missing files: no region, and the error names the profile', async () => {
      expect(await profileRegion('nope', env)).toBeUndefined();
      expect(await profileRegion('default', { AWS_CONFIG_FILE: join(dir, 'absent') })).toBeUndefined();
      await expect(resolveRegion({ env, profile: 'nope' })).rejects.toThrow(UserError);
      const err = await resolveRegion({ env, profile: 'nope' }).catch((e) => e);
      expect(err.hint).toContain('the profile "nope"');
    });
  });
});
