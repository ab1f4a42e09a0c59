/**
 * Where a browser on this machine opens a lab: a sandbox's loopback forwards (while it runs);
 * a remote host's public pages and Grafana, with an `ssh -L` line for Prometheus, which stays
 * on the lab's loopback.
 */
import type { LabRecord } from '../state.js';
import type { LabUrls } from './target.js';

export function labUrls(
  lab: Pick<LabRecord, 'kind' | 'host' | 'user' | 'port' | 'keyPath'>,
  sandbox?: Partial<Record<'web' | 'grafana' | 'prometheus', string>>,
): LabUrls {
  if (lab.kind === 'sandbox') {
    if (!sandbox?.web) return {};
    return { pages: sandbox.web, fpm: `${sandbox.web}fpm/`, grafana: sandbox.grafana, prometheus: sandbox.prometheus };
  }
  if (!lab.host || lab.kind === 'local') return {};
  const h = lab.host.includes(':') ? `[${lab.host}]` : lab.host;
  const key = lab.keyPath ? ` -i ${lab.keyPath}` : '';
  return {
    pages: `http://${h}/`,
    fpm: `http://${h}/fpm/`,
    grafana: `http://${h}:3000/`,
    prometheus: 'http://127.0.0.1:9090/ (after the tunnel below)',
    tunnel: `ssh${key} -p ${lab.port ?? 22} -N -L 9090:127.0.0.1:9090 ${lab.user ?? 'root'}@${lab.host}`,
  };
}

/** The URL lines `up` ends with and `status` prints under each lab. */
export function urlLines(u: LabUrls): string[] {
  const lines: string[] = [];
  if (u.pages) lines.push(`pages      ${u.pages} (mod_php)   ${u.fpm} (php-fpm)`);
  if (u.grafana) lines.push(`grafana    ${u.grafana}`);
  if (u.prometheus) lines.push(`prometheus ${u.prometheus}`);
  if (u.tunnel) lines.push(`tunnel     ${u.tunnel}`);
  return lines;
}
