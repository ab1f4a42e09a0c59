import { UserError } from '../src/errors.js';
import { supportedOs, SUPPORTED_OS } from '../src/facts/host.js';
import { applyDesired, desiredChanges, desiredProbes, type Desired } from '../src/resources/desired.js';
import { probe } from '../src/resources/probe.js';
import { render } from '../src/render/template.js';
import { hostScript } from '../src/render/script.js';
import { waitLoop } from '../src/resources/wait.js';
import { ofKind, type Step, type Change } from '../src/runner/types.js';

/**
 * preflight — the host can take the lab, and apt is safe to run.
 *
 * Guarantees: the OS is Ubuntu 22.04, 24.04 or 26.04, or Debian 12 or 13 (else exit 2, nothing
 * changed); the kernel exposes BTF (/sys/kernel/btf/vmlinux); cloud-init has finished
 * and no apt/dpkg process holds the lock (freshly booted cloud images run
 * unattended-upgrades for minutes); apt-get waits for the dpkg lock; needrestart never
 * prompts.
 */
/** The apt drop-in always; the needrestart drop-in only where needrestart is installed. */
function desired(needrestart: boolean): Desired {
  const files = [{ path: '/etc/apt/apt.conf.d/90ebpf-lab', content: render('etc/apt/apt.conf.d/90ebpf-lab', {}) }];
  if (needrestart)
    files.push({
      path: '/etc/needrestart/conf.d/90-ebpf-lab.conf',
      content: render('etc/needrestart/conf.d/90-ebpf-lab.conf', {}),
    });
  return { files };
}

const needrestartProbe = probe('test -d /etc/needrestart && echo yes', (o) => o === 'yes', { id: 'needrestart' });

/**
 * What keeps apt busy (templates/scripts/apt-busy.sh): a held apt/dpkg lock, apt or dpkg
 * running, an unattended-upgrade run; not unattended-upgrade-shutdown, which waits all day
 * on every Ubuntu host (matching it by name made preflight wait 10 minutes and fail on a
 * fresh Ubuntu 22.04).
 */
const aptBusyScript = (maxLines: number) => hostScript('apt-busy', { MAX_LINES: maxLines });

const busyProbe = {
  cloudInit: probe('command -v cloud-init >/dev/null && cloud-init status 2>/dev/null | head -1', (o) => o.trim(), {
    id: 'cloud-init-status',
  }),
  // The first 3 lines say enough (the script cuts them itself, without a head process).
  apt: probe(aptBusyScript(3), (o) => o.trim(), { id: 'apt-busy' }),
};

const step: Step = {
  id: 'preflight',
  title: 'Host is supported and apt is ready',
  async check(ctx) {
    const f = await ctx.facts();
    if (!supportedOs(f))
      throw new UserError(
        `${f.os.pretty} (${f.os.id} ${f.os.versionId}) on ${ctx.host.name} is not supported`,
        `ebpf-lab supports ${SUPPORTED_OS.map((o) => o.name).join(', ')}; pick such a host`,
      );
    if (!f.btf)
      throw new UserError(
        `the kernel ${f.kernel} on ${ctx.host.name} has no BTF (/sys/kernel/btf/vmlinux is missing)`,
        'CO-RE BPF programs need a kernel built with CONFIG_DEBUG_INFO_BTF=y: use a stock Ubuntu/Debian kernel',
      );
    // One round trip: both candidate drop-ins, needrestart's presence, cloud-init and apt activity.
    const busy = await ctx.probe({ ...desiredProbes(desired(true)), ...busyProbe, nr: needrestartProbe });
    const changes: Change[] = [];
    if (busy.cloudInit && !/status: (done|disabled)/.test(busy.cloudInit))
      changes.push({ kind: 'wait', for: 'cloud-init', action: 'wait', detail: busy.cloudInit });
    if (busy.apt) changes.push({ kind: 'wait', for: 'dpkg-lock', action: 'wait', detail: busy.apt });
    const files = desiredChanges(desired(busy.nr), busy);
    changes.push(...files);
    return { changes, notes: changes.length ? [] : [`${supportedOs(f)}, kernel ${f.kernel} with BTF; apt idle`] };
  },
  async apply(ctx, changes) {
    if (ofKind(changes, 'wait').some((c) => c.for === 'cloud-init')) {
      ctx.progress('waiting for cloud-init to finish (cloud-init status --wait)');
      const r = await ctx.host.exec(['cloud-init', 'status', '--wait'], {
        sudo: true,
        nothrow: true,
        timeoutMs: 900_000,
      });
      if (r.exitCode !== 0 && r.exitCode !== 2) ctx.progress(`cloud-init finished with exit ${r.exitCode}; going on`);
    }
    if (ofKind(changes, 'wait').some((c) => c.for === 'dpkg-lock')) {
      ctx.progress('waiting for apt/dpkg processes to finish (up to 10 min)');
      await ctx.host.exec(
        {
          // Idle twice, a second apart: the apt-daily jobs hand over between processes.
          script: `busy() {\n${aptBusyScript(0)}\n}\n${waitLoop('[ -z "$(busy)" ] && sleep 1 && [ -z "$(busy)" ]', { tries: 600, every: 1, then: 'exit 0' })}; busy; exit 1`,
        },
        { sudo: true, timeoutMs: 620_000 },
      );
    }
    const { nr } = await ctx.probe({ nr: needrestartProbe });
    await applyDesired(ctx, desired(nr), changes);
  },
};
export default step;
