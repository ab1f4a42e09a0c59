import { readFileSync } from 'node:fs';
import { applyDesired, desiredChanges, desiredProbes, type Desired } from '../src/resources/desired.js';
import { probe } from '../src/resources/probe.js';
import { render } from '../src/render/template.js';
import { ebpfExporter } from '../src/artifacts/manifest.js';
import { quoteArgv } from '../src/transports/quote.js';
import { exporterProgramNames, programNames } from './bpf-programs.js';
import { noUsdtReason } from '../src/lab/dtrace-prove.js';
import { prepareArtifact } from '../src/lab/artifact-skip.js';
import { BPF_OUT, EXPORTER_LISTEN, exporterBinary, STATE_DIR } from '../src/lab/layout.js';
import { ofKind, type Evidence, type Step, type StepContext } from '../src/runner/types.js';
import type { HostFacts } from '../src/facts/host.js';
import { asExporterService, exporterPrivileges, exporterServiceProperties } from '../src/render/exporter-service.js';

/** Which programs are left out here, and why (a PHP built without DTrace). */
function skippedNote(f: HostFacts): string[] {
  const left = programNames().filter((n) => !exporterProgramNames(f).includes(n));
  return left.length && f.php ? [`not loaded: ${left.join(', ')}: ${noUsdtReason(f.php.version)}`] : [];
}
import { waitLoop } from '../src/resources/wait.js';
import { hostScript } from '../src/render/script.js';

/**
 * ebpf-exporter — cloudflare's ebpf_exporter (pinned release, default 2.5.1; the asset
 * for the host's architecture, sha256-checked, fetched once into the local cache and
 * uploaded) runs as a systemd service (Type=notify, DynamicUser, CAP_BPF and CAP_PERFMON —
 * plus CAP_SYS_ADMIN only on an Ubuntu kernel whose perf_event_paranoid demands it —
 * 127.0.0.1:9435) with the lab's programs from /opt/ebpf-lab/bpf. A new binary, unit or
 * program set is checked with `--config.check --config.strict` (every program must
 * attach), run with the unit's own user, capabilities and sandboxing, before the service restarts.
 */
const UNIT = 'ebpf_exporter.service';
const LOADED = `${STATE_DIR}/ebpf_exporter.loaded`;
const binaryPath = exporterBinary;

function desired(ctx: StepContext, f: HostFacts): Desired {
  const v = ctx.options.exporterVersion;
  const priv = exporterPrivileges(f);
  const art = ctx.artifacts.get('ebpf_exporter');
  if (!art) throw new Error('ebpf_exporter artifact was not prepared');
  return {
    files: [
      { path: binaryPath(v), content: readFileSync(art.path), mode: 0o755, notify: { unit: UNIT, action: 'restart' } },
      {
        path: `/etc/systemd/system/${UNIT}`,
        content: render('etc/systemd/system/ebpf_exporter.service', {
          binary: binaryPath(v),
          configDir: BPF_OUT,
          configNames: exporterProgramNames(f),
          listenAddress: EXPORTER_LISTEN,
          service: exporterServiceProperties(priv),
          reasons: priv.reasons,
        }),
        notify: { unit: UNIT, action: 'restart' },
      },
    ],
    services: [{ unit: UNIT }],
  };
}

/** A digest of the program set the exporter should have loaded (objects + configs). */
const programSetProbe = probe(
  `cd ${BPF_OUT} 2>/dev/null && cat *.bpf.o *.yaml 2>/dev/null | sha256sum | cut -c1-64; cat ${LOADED} 2>/dev/null || echo none`,
  (o) => {
    const [now = '', loaded = ''] = o.split('\n');
    return { now, loaded };
  },
  { id: 'exporter-programs' },
);

async function check(ctx: StepContext) {
  const d = desired(ctx, await ctx.facts());
  const r = await ctx.probe({ ...desiredProbes(d), programs: programSetProbe });
  const changes = desiredChanges(d, r);
  if (r.programs.now !== r.programs.loaded && !ofKind(changes, 'unit', 'restart').some((c) => c.unit === UNIT))
    changes.push({
      kind: 'unit',
      unit: UNIT,
      action: 'restart',
      detail: `the BPF programs in ${BPF_OUT} changed since the exporter loaded them`,
    });
  return { d, changes };
}

const step: Step = {
  id: 'ebpf-exporter',
  title: `ebpf_exporter serves the lab's BPF metrics on ${EXPORTER_LISTEN}`,
  needs: ['bpf-programs'],
  prepare: (ctx) => prepareArtifact(ctx, ebpfExporter(ctx.options.exporterVersion)),
  async check(ctx) {
    const { changes } = await check(ctx);
    return {
      changes,
      notes: changes.length
        ? []
        : [
            `ebpf_exporter ${ctx.options.exporterVersion} running with ${exporterProgramNames(await ctx.facts()).length} programs`,
            ...skippedNote(await ctx.facts()),
          ],
    };
  },
  async apply(ctx, changes) {
    const { d } = await check(ctx);
    const restart = ofKind(changes, 'unit', 'restart').some((c) => c.unit === UNIT);
    await applyDesired(
      ctx,
      { ...d, services: [] },
      changes.filter((c) => c.kind !== 'unit'),
    );
    if (restart) {
      // The exporter's own checker first, as the service would run it (its user, capabilities
      // and sandboxing): every program must attach, else the old one keeps running.
      ctx.progress("ebpf_exporter --config.check --config.strict (with the unit's privileges)");
      const bin = binaryPath(ctx.options.exporterVersion);
      const argv = [
        bin,
        `--config.dir=${BPF_OUT}`,
        `--config.names=${exporterProgramNames(await ctx.facts()).join(',')}`,
        '--config.check',
        '--config.strict',
      ];
      await ctx.host.exec(asExporterService(exporterPrivileges(await ctx.facts()), argv), {
        sudo: true,
        timeoutMs: 180_000,
      });
    }
    await applyDesired(ctx, { ...d, files: [] }, ofKind(changes, 'unit'));
    if (restart)
      await ctx.host.exec(
        {
          script: `mkdir -p ${STATE_DIR} && cd ${BPF_OUT} && cat *.bpf.o *.yaml | sha256sum | cut -c1-64 > ${LOADED}`,
        },
        { sudo: true },
      );
  },
  async verify(ctx) {
    return attachedEvidence(ctx);
  },
  async prove(ctx) {
    return growthEvidence(ctx);
  },
};
export default step;

/** ebpf_exporter_ebpf_program_attached is 1 for every program (after up to 45 s for the exporter, which loads its programs before it listens). */
export async function attachedEvidence(ctx: StepContext): Promise<Evidence[]> {
  const want = exporterProgramNames(await ctx.facts());
  const r = await ctx.host.exec(
    {
      script: hostScript('exporter-attached', {
        BINARY: quoteArgv([binaryPath(ctx.options.exporterVersion)]),
        LISTEN: EXPORTER_LISTEN,
        WAIT_METRICS: waitLoop(`curl -sf -m 2 -o /dev/null http://${EXPORTER_LISTEN}/metrics`, { tries: 45, every: 1 }),
      }),
    },
    { sudo: true, nothrow: true, timeoutMs: 180_000 },
  );
  if (r.stdout.includes('NOT-INSTALLED'))
    return [
      {
        ok: false,
        skipped: true,
        what: 'ebpf_exporter programs attached',
        detail: 'ebpf_exporter is not installed on this host',
      },
    ];
  const attached = [...r.stdout.matchAll(/^ebpf_exporter_ebpf_program_attached\{id="(\d+)"\} (\S+)$/gm)];
  const configs = [...r.stdout.matchAll(/^ebpf_exporter_enabled_configs\{name="([^"]+)"\} 1$/gm)].map((m) => m[1]);
  const bad = attached.filter((m) => m[2] !== '1');
  return [
    {
      ok: configs.length === want.length,
      what: `ebpf_exporter loaded all ${want.length} configs`,
      detail: configs.join(', ') || 'none',
    },
    {
      ok: attached.length > 0 && bad.length === 0,
      what: 'every BPF program is attached (ebpf_exporter_ebpf_program_attached == 1)',
      detail: `${attached.length - bad.length}/${attached.length} attached`,
    },
  ];
}

/** The ebpf_exporter_php_* series grow after generated requests on both SAPIs. */
export async function growthEvidence(ctx: StepContext): Promise<Evidence[]> {
  const r = await ctx.host.exec(
    {
      script: hostScript('exporter-growth', {
        BINARY: binaryPath(ctx.options.exporterVersion),
        LISTEN: EXPORTER_LISTEN,
      }),
    },
    { sudo: true, nothrow: true, timeoutMs: 120_000 },
  );
  if (r.stdout.includes('NOT-INSTALLED'))
    return [
      {
        ok: false,
        skipped: true,
        what: 'ebpf_exporter_php_* series grow after requests',
        detail: 'ebpf_exporter is not installed on this host',
      },
    ];
  const [a = 0, b = 0] = r.stdout.trim().split(' ').map(Number);
  return [
    {
      ok: b > a,
      what: 'ebpf_exporter_php_* series grow after 80 generated requests',
      detail: `sum of request/compile/exception series ${a} -> ${b}`,
    },
  ];
}
