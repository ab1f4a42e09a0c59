import { statSync } from 'node:fs';
import { UserError } from './errors.js';

/**
 * Lab options: typed, defaulted and validated before any host is touched.
 * Each field names the step that reads it.
 */
export interface LabOptions {
  /** php: PHP's opcache on or off. Off by default: opcache hides compile__file__* events. */
  opcache: boolean;
  /** dtrace: USE_ZEND_DTRACE=1 drop-ins for apache2 and php-fpm (on by default). */
  dtrace: boolean;
  /** ebpf-exporter: release version of cloudflare/ebpf_exporter. */
  exporterVersion: string;
  /** prometheus: `release` (upstream tarball, pinned sha256) or `package` (the distribution's). */
  prometheusSource: 'release' | 'package';
  /** Artifacts from a local directory or an https URL instead of the internet (offline labs). */
  mirror?: string;
}

export const DEFAULT_OPTIONS: LabOptions = {
  opcache: false,
  dtrace: true,
  exporterVersion: '2.5.1',
  prometheusSource: 'release',
};

export function onOff(flag: string, value: string | undefined, dflt: boolean): boolean {
  if (value === undefined) return dflt;
  if (['on', 'true', '1', 'yes'].includes(value)) return true;
  if (['off', 'false', '0', 'no'].includes(value)) return false;
  throw new UserError(`--${flag} must be on or off, not "${value}"`, `for example: --${flag} off`);
}

/** Undefined when not given: the target decides (the offline sandbox uses the package). */
export function prometheusSource(value: string | undefined): LabOptions['prometheusSource'] | undefined {
  if (value === undefined) return undefined;
  if (value === 'release' || value === 'package') return value;
  throw new UserError(
    `--prometheus must be "release" or "package", not "${value}"`,
    "release: the upstream tarball (checksum pinned); package: Debian/Ubuntu's prometheus package, e.g. --prometheus package",
  );
}

export function exporterVersion(value: string | undefined): string {
  if (value === undefined) return DEFAULT_OPTIONS.exporterVersion;
  if (!/^\d+\.\d+\.\d+$/.test(value))
    throw new UserError(
      `--exporter-version must look like 2.5.1, not "${value}"`,
      `leave it out for the pinned default ${DEFAULT_OPTIONS.exporterVersion}, or give a released version without a leading v`,
    );
  return value;
}

/**
 * `--mirror DIR|https://URL`: a local directory or an https base URL. Plain http (or any
 * other scheme) is refused: a release whose sha256 is only trusted on first use, a checksum
 * list, or a signing key must never come over a channel that authenticates nothing.
 */
export function mirror(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === '')
    throw new UserError('--mirror is empty', 'give a local directory (--mirror /srv/mirror) or an https:// URL');
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme !== 'https')
    throw new UserError(
      `--mirror ${value} is ${scheme === 'http' ? 'plain http' : `${/^[aefhilmnorsx]/.test(scheme) ? 'an' : 'a'} ${scheme}:// URL`}: downloads whose sha256 is not pinned would come over a channel that authenticates nothing`,
      'use an https:// mirror, or a local directory (--mirror DIR, e.g. a copy made on a machine with internet access)',
    );
  if (scheme === undefined) {
    // A local mirror: a directory that is there now, not a typo found after a sandbox was built.
    const st = statSync(value, { throwIfNoEntry: false });
    if (!st)
      throw new UserError(
        `--mirror ${value} does not exist`,
        'give the directory that holds the copied downloads (README, "Downloads, --mirror and what is trusted"), or an https:// URL',
      );
    if (!st.isDirectory())
      throw new UserError(
        `--mirror ${value} is not a directory`,
        'give the directory that holds the copied downloads (its subdirectories are named after each artifact), or an https:// URL',
      );
  }
  return value;
}
