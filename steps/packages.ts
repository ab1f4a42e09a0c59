import { applyDesired, desiredChanges, type Desired } from '../src/resources/desired.js';
import {
  aptGet,
  alternativeMembers,
  APT_INPUTS_FINGERPRINT,
  packagesProbe,
  resolveAlternatives,
} from '../src/resources/apt.js';
import { probe } from '../src/resources/probe.js';
import { quoteArgv } from '../src/transports/quote.js';
import type { Step, StepContext } from '../src/runner/types.js';
import { labPackages } from './catalog.js';

export { bpftoolAlternatives, labPackages } from './catalog.js';

const policyProbe = (names: string[]) =>
  probe(
    names.length ? `apt-cache policy ${quoteArgv(names)} 2>/dev/null; true` : 'true',
    (o) => o,
    { id: 'apt-policy', args: names },
    undefined,
    names.length ? APT_INPUTS_FINGERPRINT : undefined,
  );

/**
 * The packages this host gets: alternatives resolved against its apt lists, in one round trip
 * with dpkg's view. Only alternatives need `apt-cache policy` (a plain name is what it is),
 * so a host without any (Debian) does not run it at all.
 */
async function resolve(ctx: StepContext) {
  const wanted = labPackages(await ctx.facts());
  const members = alternativeMembers(wanted);
  const choices = alternativeMembers(wanted.filter((w) => w.includes('|')));
  const r = await ctx.probe({ policy: policyProbe(choices), pkgs: packagesProbe(members) });
  const { packages, unresolved } = resolveAlternatives(r.policy, wanted);
  const installed = Object.fromEntries(packages.map((p) => [p, r.pkgs[p] ?? false]));
  return { packages, unresolved, results: { pkgs: installed } };
}

/**
 * packages — every package the lab needs is installed, nothing else.
 *
 * Tracing: bpftrace, bpftool, clang, llvm, libbpf-dev, libelf-dev, libc6-dev, make;
 * tools: curl, jq, apache2-utils (ab), iproute2 (tc); PHP: apache2 with mod_php, php-fpm, php-cli, memcached with
 * php-memcached, php-apcu. Installs with --no-install-recommends in one apt-get call;
 * `apt-get update` only when apt does not know a package.
 *
 * bpftool is a list of alternatives, the first the archive has wins (see bpftoolAlternatives in catalog.ts).
 */
const step: Step = {
  id: 'packages',
  title: 'Tracing, build and PHP packages are installed',
  needs: ['preflight'],
  async check(ctx) {
    const { packages, unresolved, results } = await resolve(ctx);
    const changes = desiredChanges({ packages }, results);
    const notes = changes.length ? [] : [`all ${packages.length} packages installed`];
    if (unresolved.length) notes.push(`apt's lists do not know ${unresolved.join(', ')} yet: they are updated first`);
    return { changes, notes };
  },
  async apply(ctx, changes) {
    let { packages, unresolved } = await resolve(ctx);
    if (unresolved.length) {
      // Fresh image, empty lists: which alternative exists is only known after an update.
      ctx.progress(`apt-get update (to choose between ${unresolved.join(', ')})`);
      await aptGet(ctx, ['update', '-q']);
      const again = await resolve(ctx);
      ({ packages, unresolved } = again);
      changes = desiredChanges({ packages } satisfies Desired, again.results);
    }
    await applyDesired(ctx, { packages }, changes);
  },
  async verify(ctx) {
    const r = await ctx.host.exec(
      { script: 'bpftrace --version; clang --version | head -1' },
      { sudo: true, nothrow: true },
    );
    return [{ ok: r.exitCode === 0, what: 'bpftrace and clang run', detail: r.stdout.trim().split('\n').join('; ') }];
  },
};
export default step;
