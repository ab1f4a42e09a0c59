import { isThrottle } from './errors.js';

/** Sleep for `ms` milliseconds; injected so tests run on fake time. */
export type Sleep = (ms: number) => Promise<void>;

/** Real sleep, the default everywhere a `sleep` option exists. */
export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Outcome of one item of {@link runPool}: never thrown, always reported. */
export type PoolResult<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Progress events from {@link runPool}, for a live table or per-item logs. */
export type PoolEvent<I, T> =
  | { type: 'start'; index: number; item: I }
  | { type: 'done'; index: number; item: I; value: T }
  | { type: 'fail'; index: number; item: I; error: unknown };

/**
 * Run `fn` over `items` with at most `limit` calls in flight. One item's failure neither stops
 * the others nor hides them: the result array (same order as `items`) holds every outcome.
 * An exception thrown by `onEvent` is ignored so a broken renderer cannot abort the fleet.
 */
export async function runPool<I, T>(
  items: readonly I[],
  limit: number,
  fn: (item: I, index: number) => Promise<T>,
  opts: { onEvent?: (event: PoolEvent<I, T>) => void } = {},
): Promise<PoolResult<T>[]> {
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError(`pool limit must be a positive integer, got ${limit}`);
  const results: PoolResult<T>[] = new Array(items.length);
  const emit = (ev: PoolEvent<I, T>): void => {
    try {
      opts.onEvent?.(ev);
    } catch {
      // a renderer failure must not turn into a lab failure
    }
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      const item = items[index] as I;
      emit({ type: 'start', index, item });
      try {
        const value = await fn(item, index);
        results[index] = { ok: true, value };
        emit({ type: 'done', index, item, value });
      } catch (error) {
        results[index] = { ok: false, error };
        emit({ type: 'fail', index, item, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, () => worker()));
  return results;
}

/** Backoff settings for {@link withThrottleRetry}. */
export interface RetryOptions {
  sleep?: Sleep;
  /** Retries after the first attempt (default 6). */
  retries?: number;
  /** First delay in ms (default 1000); doubles each retry. */
  baseMs?: number;
  /** Cap on one delay in ms (default 20000). */
  maxMs?: number;
  /** Source of jitter in [0,1); default Math.random. */
  random?: () => number;
  /** Told about each retry (for logs). */
  onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
}

/**
 * Call `fn`, retrying with exponential backoff and jitter while AWS throttles
 * (ThrottlingException, TooManyRequestsException, HTTP 429). The SDK retries a few times
 * itself, but 30 parallel creates exhaust that quickly; this adds a longer, outer budget.
 * Any other error is rethrown at once; the last throttling error is rethrown when the
 * budget is spent.
 */
export async function withThrottleRetry<T>(fn: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const { sleep = realSleep, retries = 6, baseMs = 1000, maxMs = 20_000, random = Math.random } = opts;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isThrottle(err) || attempt >= retries) throw err;
      // "equal jitter": half fixed, half random, so parallel callers spread out
      const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
      const delay = Math.round(ceiling / 2 + (ceiling / 2) * random());
      opts.onRetry?.(attempt + 1, delay, err);
      await sleep(delay);
    }
  }
}
