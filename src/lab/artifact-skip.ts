import { UserError } from '../errors.js';
import { ensureArtifact } from '../artifacts/cache.js';
import { archOf, type ArtifactSpec } from '../artifacts/manifest.js';
import { cacheDir } from '../state.js';
import type { StepContext } from '../runner/types.js';

/**
 * Fetches an artifact into the local cache for prepare(). An artifact that cannot be
 * reached (no internet, no mirror) makes the step skip with the reason and the fix; a
 * checksum mismatch or an unauthenticated source is never skipped over: it stops the run.
 */
export async function prepareArtifact(ctx: StepContext, spec: ArtifactSpec): Promise<string | undefined> {
  const f = await ctx.facts();
  try {
    const a = await ensureArtifact(spec, archOf(f.arch), {
      cacheDir: cacheDir(),
      mirror: ctx.options.mirror,
      log: ctx.progress,
    });
    ctx.artifacts.set(spec.id, a);
    return undefined;
  } catch (e) {
    // A refusal (checksum mismatch, an unauthenticated source) stops the run; only "cannot fetch" skips.
    if (e instanceof UserError && !/refusing to (install|fetch)/.test(e.message)) {
      const hint = (e.hint ?? '').replace(/with --skip$/, `with --skip ${ctx.stepId}`);
      return `${e.message}. ${hint.charAt(0).toUpperCase()}${hint.slice(1)}`.trim();
    }
    throw e;
  }
}
