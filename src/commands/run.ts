import { STEPS, sandboxPackages } from '../../steps/index.js';
import { runSteps, selectSteps } from '../runner/run.js';
import { makeRenderer, pickOutput, type Renderer } from '../render/report.js';
import { openTarget, parseTarget } from '../targets/resolve.js';
import { saveLab } from '../state.js';
import { labUrls, urlLines } from './lab.js';
import { acquireHostLock, type HostLock } from '../runner/host-lock.js';
import type { Mode } from '../runner/events.js';
import type { LabOptions } from '../options.js';

/** Forwarded ports change with each boot: they are read from the sandbox, never stored in labs.json. */
const withoutUrls = <T extends { urls?: unknown }>({ urls: _urls, ...rest }: T) => rest;

export interface RunCommandInput {
  mode: Mode;
  target?: string;
  only?: string[];
  skip?: string[];
  output?: string;
  diff: boolean;
  keyPath?: string;
  /** --os of a sandbox target. */
  os?: string;
  /** prometheusSource left undefined: `package` on the sandbox (no internet there), `release` elsewhere. */
  options: Omit<LabOptions, 'prometheusSource'> & Partial<Pick<LabOptions, 'prometheusSource'>>;
}

/**
 * up / plan / verify: everything is validated (target, steps, options) before any
 * host is touched; then one connection carries the whole run. Returns the exit code.
 */
export async function runCommand(input: RunCommandInput): Promise<number> {
  const spec = parseTarget(input.target);
  const steps = selectSteps(STEPS, input.only, input.skip);
  const options: LabOptions = {
    ...input.options,
    prometheusSource: input.options.prometheusSource ?? (spec.kind === 'sandbox' ? 'package' : 'release'),
  };
  const renderer: Renderer = makeRenderer(
    pickOutput(input.output, Boolean(process.stdout.isTTY)),
    input.diff || input.mode === 'plan',
  );
  let ok = false;
  try {
    const log = (line: string) => renderer({ kind: 'note', line });
    const { transport, record } = await openTarget(spec, {
      create: input.mode === 'up',
      keyPath: input.keyPath,
      packages: sandboxPackages,
      os: input.os,
      log,
    });
    let lock: HostLock | undefined;
    try {
      // plan only reads; up and verify (which writes a probe page) take the host's run lock.
      if (input.mode !== 'plan') lock = await acquireHostLock(transport, { note: log });
      const results = await runSteps({
        host: transport,
        steps,
        options,
        mode: input.mode,
        emit: renderer,
        lab: record.name,
      });
      ok = results.every((r) => r.status !== 'failed');
      if (input.mode === 'up') for (const line of urlLines(labUrls(record, record.urls))) log(line);
      if (input.mode === 'up' || record.createdByUs)
        await saveLab({
          ...withoutUrls(record),
          createdAt: new Date().toISOString(),
          lastRun: { command: input.mode, at: new Date().toISOString(), ok },
        });
    } finally {
      await lock?.release();
      await transport.close();
    }
  } finally {
    renderer.finish();
  }
  return ok ? 0 : 1;
}
