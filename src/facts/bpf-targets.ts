import { UserError } from '../errors.js';
import { quoteArgv } from '../transports/quote.js';
import type { HostFacts } from './host.js';

/** Variables of bpf/Makefile that carry facts about the target host. */
export interface BpfMakeVars {
  /** mod_php library; '' leaves the apache programs out. */
  LIBPHP: string;
  /** php-fpm binary; '' leaves the fpm programs out. */
  PHP_FPM: string;
  LIBMEMCACHED: string;
  ARCH: 'x86' | 'arm64';
  MULTIARCH: string;
}

const BPF_ARCH: Record<string, BpfMakeVars['ARCH']> = { x86_64: 'x86', aarch64: 'arm64' };
// Paths end up inside a C string literal and a make variable: keep them boring.
const SAFE_PATH = /^\/[A-Za-z0-9._+/-]+$/;

/**
 * Make variables for bpf/Makefile from host facts (never hard-coded paths).
 * Throws UserError when a probe target is missing or the architecture has no vmlinux/PT_REGS support.
 */
export function bpfMakeVars(facts: Pick<HostFacts, 'arch' | 'multiarch' | 'php' | 'libmemcached'>): BpfMakeVars {
  const arch = BPF_ARCH[facts.arch];
  if (!arch) throw new UserError(`no BPF target architecture for ${facts.arch}`, 'supported: x86_64, aarch64');
  const LIBPHP = facts.php?.libphp ?? '';
  const PHP_FPM = facts.php?.fpmBinary ?? '';
  if (!LIBPHP && !PHP_FPM) {
    throw new UserError(
      'neither mod_php nor php-fpm found to attach the PHP probes to',
      'install the PHP packages first',
    );
  }
  const LIBMEMCACHED = facts.libmemcached ?? '';
  if (!LIBMEMCACHED) throw new UserError('libmemcached not found for the memcached uprobe', 'install libmemcached11');
  for (const p of [LIBPHP, PHP_FPM, LIBMEMCACHED]) {
    if (p && !SAFE_PATH.test(p)) throw new UserError(`unexpected characters in probe target path ${JSON.stringify(p)}`);
  }
  return { LIBPHP, PHP_FPM, LIBMEMCACHED, ARCH: arch, MULTIARCH: facts.multiarch };
}

/** Shell command building every object of `srcDir` (a copy of bpf/) into `outDir`. */
export function bpfMakeCommand(srcDir: string, outDir: string, vars: BpfMakeVars, jobs = 2): string {
  const assigns = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
  return quoteArgv(['make', '-C', srcDir, `-j${jobs}`, `OUT=${outDir}`, ...assigns]);
}
