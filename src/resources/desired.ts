import {
  applyFile,
  absentFileChanges,
  fileChanges,
  fileProbe,
  sha256,
  type FileSpec,
  type FileState,
} from './files.js';
import { installPackages, packageChanges, packagesProbe } from './apt.js';
import {
  applyUnitChanges,
  markPending,
  pendingChanges,
  pendingProbe,
  serviceChanges,
  unitsProbe,
  type ServiceSpec,
  type UnitState,
} from './systemd.js';
import type { Probe } from './probe.js';
import { changeLabel, ofKind, type Change, type StepContext } from '../runner/types.js';

/**
 * The state a step wants, as data: packages, whole files, absent files, services.
 * Steps build one of these from facts; check/apply below do the rest the same way
 * for every step, in one probe round trip.
 */
export interface Desired {
  packages?: string[];
  files?: FileSpec[];
  absent?: string[];
  services?: ServiceSpec[];
  /** Units whose pending restart/reload markers this step owns. */
  units?: string[];
}

export function desiredProbes(d: Desired): Record<string, Probe<unknown>> {
  const probes: Record<string, Probe<unknown>> = {};
  if (d.packages?.length) probes['pkgs'] = packagesProbe(d.packages);
  (d.files ?? []).forEach((f, i) => (probes[`file${i}`] = fileProbe(f.path, !f.secret, sha256(f.content))));
  (d.absent ?? []).forEach((p, i) => (probes[`absent${i}`] = fileProbe(p, false)));
  const units = ownedUnits(d);
  if (units.length) {
    probes['units'] = unitsProbe(units);
    probes['pending'] = pendingProbe;
  }
  return probes;
}

function ownedUnits(d: Desired): string[] {
  return [
    ...new Set([
      ...(d.units ?? []),
      ...(d.services ?? []).map((s) => s.unit),
      ...(d.files ?? []).flatMap((f) => (f.notify ? [f.notify.unit] : [])),
    ]),
  ];
}

export function unitStates(results: Record<string, unknown>): Record<string, UnitState> {
  return (results['units'] as Record<string, UnitState> | undefined) ?? {};
}

/** Every change between `d` and the probed state, restarts derived from file changes. */
export function desiredChanges(d: Desired, results: Record<string, unknown>): Change[] {
  const changes: Change[] = [];
  if (d.packages?.length) changes.push(...packageChanges(results['pkgs'] as Record<string, boolean>));
  const notify = new Map<string, { action: 'restart' | 'reload'; why: string }>();
  (d.files ?? []).forEach((f, i) => {
    const c = fileChanges(f, results[`file${i}`] as FileState);
    changes.push(...c);
    if (c.length && f.notify && c.some((x) => x.action === 'create' || x.action === 'update')) {
      const prev = notify.get(f.notify.unit);
      const action = prev?.action === 'restart' ? 'restart' : f.notify.action;
      notify.set(f.notify.unit, { action, why: `${f.path} changed` });
    }
  });
  (d.absent ?? []).forEach((p, i) => {
    const c = absentFileChanges(p, results[`absent${i}`] as FileState);
    changes.push(...c);
  });
  const units = unitStates(results);
  for (const s of d.services ?? []) changes.push(...serviceChanges(s, units[s.unit]));
  const pending = pendingChanges((results['pending'] as string[] | undefined) ?? [], ownedUnits(d));
  // A pending restart outranks a reload that a file change asks for now: lowering it to a
  // reload would clear only the reload marker and leave the restart pending after apply.
  for (const p of pending) {
    const now = notify.get(p.unit);
    if (!now) notify.set(p.unit, { action: p.action, why: p.detail });
    else if (p.action === 'restart' && now.action === 'reload')
      notify.set(p.unit, { action: 'restart', why: now.why === p.detail ? p.detail : `${now.why}; ${p.detail}` });
  }
  for (const [unit, { action, why }] of notify) changes.push({ kind: 'unit', unit, action, detail: why });
  return dedupe(changes);
}

export function dedupe(changes: Change[]): Change[] {
  const seen = new Set<string>();
  return changes.filter((c) => {
    const k = changeLabel(c) + ' ' + c.action;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Applies exactly `changes`: packages, then files (pending marks first), then units. */
export async function applyDesired(ctx: StepContext, d: Desired, changes: Change[]): Promise<void> {
  await installPackages(
    ctx,
    ofKind(changes, 'package').map((c) => c.name),
  );
  const byAction = (a: 'restart' | 'reload') => ofKind(changes, 'unit', a).map((c) => c.unit);
  await markPending(ctx, 'restart', byAction('restart'));
  await markPending(ctx, 'reload', byAction('reload'));
  let unitFilesChanged = false;
  for (const f of d.files ?? []) {
    if (!ofKind(changes, 'file').some((c) => c.path === f.path)) continue;
    ctx.progress(`writing ${f.path}`);
    await applyFile(ctx, f, changes);
    if (f.path.startsWith('/etc/systemd/')) unitFilesChanged = true;
  }
  const gone = (d.absent ?? []).filter((p) => ofKind(changes, 'file', 'delete').some((c) => c.path === p));
  if (gone.length) {
    await ctx.host.exec(['rm', '-f', '--', ...gone], { sudo: true });
    if (gone.some((p) => p.startsWith('/etc/systemd/'))) unitFilesChanged = true;
  }
  await applyUnitChanges(ctx, changes, unitFilesChanged);
}

/** check() for a step that is nothing but a Desired (plus a reason when unchanged). */
export async function checkDesired(ctx: StepContext, d: Desired, okNote: string) {
  const results = await ctx.probe(desiredProbes(d));
  const changes = desiredChanges(d, results);
  return { changes, notes: changes.length ? [] : [okNote], results };
}
