import { STEPS, sandboxPackages } from '../../steps/index.js';
import { runSteps, selectSteps } from '../runner/run.js';
import { makeRenderer, pickOutput, type Renderer } from '../render/report.js';
import { openTarget, parseTarget } from '../targets/resolve.js';
import { saveLab } from '../state.js';
import { acquireHostLock, type HostLock } from '../runner/host-lock.js';
import type { Mode } from '../runner/events.js';
import type { LabOptions } from '../options.js';
import type { Transport } from '../transports/transport.js';
import { guardRun } from '../runner/interrupt.js';

export interface RunCommandInput {
  mode: Mode;
  target?: string;
  only?: string[];
  skip?: string[];
  output?: string;
  diff: boolean;
  keyPath?: string;
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
  let transport: Transport | undefined;
  // Ctrl-C / SIGTERM: say what was interrupted and the host's state, release the lock, exit 130/143.
  const guard = guardRun({
    emit: renderer,
    say: (l) => process.stderr.write(l + '\n'),
    host: () => transport,
    mode: input.mode,
  });
  try {
    const log = (line: string) => guard.emit({ kind: 'note', line });
    guard.stage(
      `opening ${spec.label}${spec.kind === 'sandbox' && input.mode === 'up' ? ' (creating or booting it)' : ''}`,
    );
    const opened = await openTarget(spec, {
      create: input.mode === 'up',
      keyPath: input.keyPath,
      packages: sandboxPackages,
      log,
    });
    transport = opened.transport;
    const { record } = opened;
    guard.holding(() => transport!.close());
    let lock: HostLock | undefined;
    try {
      // plan only reads; up and verify (which writes a probe page) take the host's run lock.
      guard.stage(`waiting for the run lock on ${transport.name} (nothing was changed)`);
      if (input.mode !== 'plan') lock = await acquireHostLock(transport, { note: log, what: input.mode });
      const held = lock;
      guard.holding(async () => {
        await held?.release();
        await transport!.close();
      });
      guard.stage(`starting the run on ${transport.name}`);
      const results = await runSteps({
        host: guard.wrap(transport),
        steps,
        options,
        mode: input.mode,
        emit: guard.emit,
        lab: record.name,
      });
      ok = results.every((r) => r.status !== 'failed');
      if (input.mode === 'up' || record.createdByUs)
        await saveLab({
          ...record,
          createdAt: new Date().toISOString(),
          lastRun: { command: input.mode, at: new Date().toISOString(), ok },
        });
    } finally {
      await lock?.release();
      await transport.close();
    }
  } finally {
    guard.dispose();
    renderer.finish();
  }
  return ok ? 0 : 1;
}
