import { translateAwsError, type ErrorContext } from './errors.js';
import { withThrottleRetry, type RetryOptions, type Sleep } from './pool.js';

/** Options every Lightsail helper accepts: injected time so tests never wait for real. */
export interface CloudOptions {
  sleep?: Sleep;
  /** Current time in ms (default Date.now). */
  now?: () => number;
  /** Throttling backoff for each API call (sleep is taken from `sleep`). */
  retry?: Omit<RetryOptions, 'sleep'>;
}

/**
 * One Lightsail API call: throttling retried with backoff, any other failure translated
 * into a UserError/Error that says what was attempted. Use `raw` when the caller wants to
 * inspect the SDK error itself (NotFound → undefined, name taken → adopt).
 */
export async function call<T>(fn: () => Promise<T>, ctx: ErrorContext, opts: CloudOptions = {}): Promise<T> {
  try {
    return await raw(fn, opts);
  } catch (err) {
    throw translateAwsError(err, ctx);
  }
}

/** Like {@link call} but rethrows the SDK error untranslated (after throttling retries). */
export function raw<T>(fn: () => Promise<T>, opts: CloudOptions = {}): Promise<T> {
  return withThrottleRetry(fn, { ...opts.retry, ...(opts.sleep ? { sleep: opts.sleep } : {}) });
}
