import {
  AccessDeniedException,
  AccountSetupInProgressException,
  InvalidInputException,
  NotFoundException,
  RegionSetupInProgressException,
  UnauthenticatedException,
} from '@aws-sdk/client-lightsail';
import { UserError } from '../errors.js';

/** What was being attempted when an AWS call failed; used to word the message. */
export interface ErrorContext {
  /** e.g. "create instance lab-01" */
  action: string;
  region?: string;
}

const CREDENTIAL_FIX =
  'Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys), ' +
  'or AWS_PROFILE=<name> for a profile in ~/.aws/config (`aws configure`), ' +
  'or run `aws sso login --profile <name>` for IAM Identity Center (SSO).';

/** Error names AWS uses when it rejects the credentials themselves (not their permissions). */
const BAD_CREDENTIAL_NAMES = new Set([
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'ExpiredToken',
  'ExpiredTokenException',
  'RequestExpired',
]);

const THROTTLE_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ThrottledException',
]);

/** True when the error is AWS saying "slow down" (by name or HTTP 429). */
export function isThrottle(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return !!e && (THROTTLE_NAMES.has(e.name ?? '') || e.$metadata?.httpStatusCode === 429);
}

/** True when Lightsail reports that the resource does not exist. */
export function isNotFound(err: unknown): boolean {
  return err instanceof NotFoundException || (err as Error | undefined)?.name === 'NotFoundException';
}

/** A create that failed because the name is already used (possibly by our own lost-response create). */
export function isNameTaken(err: unknown): boolean {
  const msg = (err as Error | undefined)?.message ?? '';
  return (
    /NameExists|already in use|already exists/i.test(msg) || (err as Error | undefined)?.name === 'NameExistsException'
  );
}

/** True for the account's instance quota being reached (reported only as a message). */
export function isInstanceLimit(err: unknown): boolean {
  return /maximum number of instances/i.test((err as Error | undefined)?.message ?? '');
}

/**
 * Turn an SDK error into what the user needs: a UserError (exit 2) with what happened and what
 * to do when the cause is theirs to fix (credentials, region, account setup, permissions,
 * quota, bad input), otherwise an Error that keeps the SDK error as `cause`.
 */
export function translateAwsError(err: unknown, ctx: ErrorContext): Error {
  if (err instanceof UserError) return err;
  const e = (err instanceof Error ? err : new Error(String(err))) as Error & { code?: string };
  const name = e.name ?? 'Error';
  const msg = e.message ?? '';
  const what = `Could not ${ctx.action}`;
  const region = ctx.region ? ` in region ${ctx.region}` : '';

  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(msg)) {
    if (/sso|token/i.test(msg)) {
      return new UserError(
        `${what}: the AWS SSO session is missing or expired (${msg})`,
        'Run `aws sso login` (with --profile <name> if you use a profile) and retry.',
      );
    }
    return new UserError(`${what}: no AWS credentials were found`, CREDENTIAL_FIX);
  }
  if (name === 'TokenProviderError' || /sso session .*(expired|invalid)/i.test(msg)) {
    return new UserError(
      `${what}: the AWS SSO session is missing or expired (${msg})`,
      'Run `aws sso login` (with --profile <name> if you use a profile) and retry.',
    );
  }
  if (err instanceof UnauthenticatedException || BAD_CREDENTIAL_NAMES.has(name)) {
    return new UserError(
      `${what}: AWS rejected the credentials (${name}: ${msg})`,
      `Check that the access key is current and belongs to the intended account; ${CREDENTIAL_FIX} ` +
        'A wrong system clock also causes signature errors.',
    );
  }
  if (/region is missing/i.test(msg)) {
    return new UserError(
      `${what}: no AWS region is set`,
      'Pass --region (e.g. --region eu-central-1), or set AWS_REGION, or set `region` in your AWS profile.',
    );
  }
  if (/invalid region/i.test(msg) || e.code === 'ENOTFOUND' || /getaddrinfo ENOTFOUND lightsail\./.test(msg)) {
    return new UserError(
      `${what}: region${region || ''} is not a region where Lightsail is available (${msg})`,
      'Pick a Lightsail region, e.g. us-east-1, eu-central-1, ap-northeast-1 (see `aws lightsail get-regions`).',
    );
  }
  if (err instanceof AccountSetupInProgressException || name === 'AccountSetupInProgressException') {
    return new UserError(
      `${what}: your Lightsail account is still being set up`,
      'Wait a few minutes and retry. On a brand-new account, open the Lightsail console once.',
    );
  }
  if (err instanceof RegionSetupInProgressException || name === 'RegionSetupInProgressException') {
    return new UserError(
      `${what}: Lightsail is still setting up${region || ' this region'}`,
      'Wait a few minutes and retry (opt-in regions take a while after enabling).',
    );
  }
  if (err instanceof AccessDeniedException || name === 'AccessDeniedException' || name === 'AccessDenied') {
    return new UserError(
      `${what}${region}: access denied (${msg})`,
      'Your IAM identity needs lightsail:* permissions for instances, key pairs, ports and tags (e.g. a policy allowing "lightsail:*").',
    );
  }
  if (isInstanceLimit(err)) {
    return new UserError(
      `${what}${region}: the account has reached the maximum number of instances (${msg})`,
      'Delete unused instances, use fewer labs, or request a Lightsail instance quota increase in the Service Quotas console. New accounts often get fewer than the documented quota.',
    );
  }
  if (err instanceof InvalidInputException || name === 'InvalidInputException') {
    return new UserError(
      `${what}${region}: Lightsail refused the input (${msg})`,
      'Check the region, availability zone, bundle and blueprint values.',
    );
  }
  const net = e.code ?? (e as { cause?: { code?: string } }).cause?.code ?? '';
  if (
    ['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EAI_AGAIN', 'EPROTO'].includes(net) ||
    name === 'TimeoutError' ||
    /socket hang up|connect ETIMEDOUT|network/i.test(msg)
  ) {
    return new UserError(
      `${what}${region}: the Lightsail API endpoint cannot be reached (${net || name}: ${msg})`,
      'Check the network connection and any proxy (HTTPS_PROXY); if AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_LIGHTSAIL is set, check it. Nothing was changed.',
    );
  }
  if (isThrottle(err)) {
    return new Error(`${what}${region}: AWS kept throttling requests (${name}); retry later or with less parallelism`, {
      cause: err,
    });
  }
  if (isNotFound(err)) {
    return new Error(`${what}${region}: not found (${msg})`, { cause: err });
  }
  return new Error(`${what}${region}: ${name}: ${msg}`, { cause: err });
}
