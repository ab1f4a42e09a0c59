import { applyDesired, checkDesired, type Desired } from '../src/resources/desired.js';
import { btPathsFromFacts, listBtTools, renderBt, btPlaceholders, BT_PLACEHOLDERS } from '../src/render/bt.js';
import type { HostFacts } from '../src/facts/host.js';
import { BT_DIR } from '../src/lab/layout.js';
import { hostScript } from '../src/render/script.js';
import { quoteArgv } from '../src/transports/quote.js';
import type { Evidence, Step } from '../src/runner/types.js';
import { bpftraceCannotStart, noUsdtReason } from '../src/lab/dtrace-prove.js';

/**
 * bt-tools — the lab's bpftrace tools (bt/*.bt) are installed in /opt/ebpf-lab/bt with
 * this host's probe paths filled in (libphpX.Y.so, php-fpmX.Y, phpX.Y, libmemcached,
 * apcu.so), executable, with a README of one line per tool. Run one with
 * `sudo /opt/ebpf-lab/bt/<tool>.bt`.
 */

function desired(f: HostFacts): { d: Desired; missing: string[] } {
  const paths = btPathsFromFacts(f);
  const missing: string[] = [];
  const files = listBtTools().flatMap((t) => {
    const lack = btPlaceholders(t.source).filter((p) => !paths[BT_PLACEHOLDERS[p]]);
    if (lack.length) {
      missing.push(`${t.file} (needs ${lack.map((p) => `@${p}@`).join(', ')})`);
      return [];
    }
    return [{ path: `${BT_DIR}/${t.file}`, content: renderBt(t.source, paths), mode: 0o755 }];
  });
  const readme =
    `# managed by ebpf-lab: bpftrace tools for this lab, with this host's probe paths. Run: sudo ${BT_DIR}/<tool>.bt\n` +
    listBtTools()
      .map((t) => `${t.file}: ${t.summary}`)
      .join('\n') +
    '\n';
  files.push({ path: `${BT_DIR}/README`, content: readme, mode: 0o644 });
  return { d: { files }, missing };
}

const step: Step = {
  id: 'bt-tools',
  title: "bpftrace tools are installed with this host's probe paths",
  needs: ['packages'],
  async check(ctx) {
    const f = await ctx.facts();
    if (!f.php?.libphp)
      return {
        changes: [{ kind: 'step', step: 'bt-tools', action: 'install', detail: 'after PHP is installed' }],
        notes: [],
      };
    const { d, missing } = desired(f);
    const { changes, notes } = await checkDesired(
      ctx,
      d,
      `${listBtTools().length - missing.length} tools in ${BT_DIR}`,
    );
    return { changes, notes: [...notes, ...missing.map((m) => `not installed: ${m}`)] };
  },
  async apply(ctx, changes) {
    await applyDesired(ctx, desired(await ctx.facts()).d, changes);
  },
  /** Every installed tool compiles with this host's bpftrace (`--emit-elf`: parse, semantic checks, codegen, no attach). */
  async prove(ctx) {
    const f = await ctx.facts();
    // Tools on PHP's USDT probes cannot compile where PHP has none: say why, never "ok".
    const usdtTools = new Set(
      listBtTools()
        .filter((t) => /^\s*usdt:/m.test(t.source))
        .map((t) => t.file),
    );
    const noUsdt = f.php && !f.php.usdt ? noUsdtReason(f.php.version) : undefined;
    const tools = listBtTools()
      .map((t) => t.file)
      .filter((t) => !(noUsdt && usdtTools.has(t)));
    const r = await ctx.host.exec(
      { script: hostScript('bt-compile', { TOOLS: quoteArgv(tools), BT_DIR }) },
      { sudo: true, nothrow: true, timeoutMs: 600_000 },
    );
    const skipped: Evidence[] = noUsdt
      ? [...usdtTools].map((t) => ({ ok: false, skipped: true, what: `${t} compiles with bpftrace`, detail: noUsdt }))
      : [];
    return [
      ...skipped,
      ...tools.map((t): Evidence => {
        const line = r.stdout.split('\n').find((l) => l.startsWith(`${t} `)) ?? `${t} fail no output`;
        const status = line.split(' ')[1];
        const blocked = bpftraceCannotStart(line);
        return status === 'absent'
          ? { ok: false, skipped: true, what: `${t} compiles with bpftrace`, detail: 'not installed on this host' }
          : blocked
            ? { ok: false, skipped: true, what: `${t} compiles with bpftrace`, detail: blocked }
            : {
                ok: status === 'ok',
                what: `${t} compiles with bpftrace`,
                detail: line.split(' ').slice(2).join(' ') || undefined,
              };
      }),
    ];
  },
};
export default step;
