/**
 * `ebpf-lab workshop up|roster|down`: one Lightsail lab per attendee, named <prefix>-01…
 * up validates every input and prices the fleet before anything exists, asks to confirm (or
 * needs --yes), then creates and provisions the labs in a bounded pool; each lab logs to its
 * own file, one lab's failure neither stops nor hides the others, and a re-run only finishes
 * what is missing. roster writes CSV + Markdown; down deletes only this prefix's labs.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LightsailClient } from '@aws-sdk/client-lightsail';
import { STEPS } from '../../steps/index.js';
import { UserError } from '../errors.js';
import { validateBlueprint, validateRegion } from '../cloud/catalog.js';
import { estimateCost, formatCost } from '../cloud/cost.js';
import { defaultKeyPairName } from '../cloud/keys.js';
import { destroyLab, expiredLabs, listLabs, type LabInstance } from '../cloud/lightsail.js';
import {
  labNames,
  planFleet,
  rosterCsv,
  rosterMarkdown,
  rosterRows,
  type RosterRow,
} from '../cloud/lightsail-fleet.js';
import { runPool } from '../cloud/pool.js';
import type { LabOptions } from '../options.js';
import { plainRenderer } from '../render/report.js';
import type { Emit } from '../runner/events.js';
import { runSteps, selectSteps } from '../runner/run.js';
import { changeLabel, type Step } from '../runner/types.js';
import { labHome, readRegistry, writePrivate } from '../state.js';
import {
  connectLab,
  forgetHostKeysOf,
  forgetLabLocked,
  grafanaPassword,
  hostKeysToForget,
  keyDir,
  lightsailDeps,
  prepareLab,
  recordFor,
  recordName,
  saveLabLocked,
  type LabEndpoint,
} from '../targets/lightsail.js';
import { confirmDeletion } from '../targets/common.js';
import { resolveInputs, type LightsailFlags } from '../targets/lightsail-inputs.js';
import type { Interaction } from '../targets/target.js';
import { terminal } from './prompt.js';

export interface WorkshopInput {
  sub: string | undefined;
  flags: LightsailFlags;
  only?: string[];
  skip?: string[];
  options: LabOptions;
  output?: string;
  /** Where questions go (default: this process's terminal). */
  io?: Interaction;
}

/** Runs the steps on a prepared lab; true when no step failed. Replaced in tests. */
export type Provision = (
  ep: LabEndpoint,
  run: { steps: Step[]; options: LabOptions; emit: Emit; log: (l: string) => void },
) => Promise<boolean>;

const provisionLab: Provision = async (ep, run) => {
  const transport = await connectLab(ep, run.log);
  try {
    const results = await runSteps({
      host: transport,
      steps: run.steps,
      options: run.options,
      mode: 'up',
      emit: run.emit,
    });
    return results.every((r) => r.status !== 'failed');
  } finally {
    await transport.close();
  }
};

/** Seams for tests; `poolLimit` bounds parallel labs (API rate and operator bandwidth). */
export const workshopDeps: { provision: Provision; poolLimit: number } = { provision: provisionLab, poolLimit: 5 };

/** Per-workshop directory: logs, roster.csv, roster.md. */
export const workshopDir = (prefix: string): string => join(labHome(), 'workshop', prefix);

/** True for the labs of one workshop: `<prefix>-NN`, tagged for exactly that name. */
export function belongsTo(l: LabInstance, prefix: string): boolean {
  return l.ours && l.lab === l.name && l.name.startsWith(`${prefix}-`) && /^\d+$/.test(l.name.slice(prefix.length + 1));
}

async function regionOfPrefix(prefix: string): Promise<string | undefined> {
  const labs = Object.values((await readRegistry()).labs);
  return labs.find((l) => l.kind === 'lightsail' && l.region && l.name.startsWith(recordName(`${prefix}-`)))?.region;
}

/** Dispatches `workshop up|roster|down`. Returns the exit code. */
export async function workshopCommand(input: WorkshopInput, write: (s: string) => void): Promise<number> {
  if (input.sub === 'up') return workshopUp(input, write);
  if (input.sub === 'roster') return workshopRoster(input, write);
  if (input.sub === 'down') return workshopDown(input, write);
  throw new UserError(
    input.sub ? `unknown workshop command "${input.sub}"` : 'workshop needs a command',
    'use: ebpf-lab workshop up --count N | roster | down',
  );
}

async function workshopUp(input: WorkshopInput, write: (s: string) => void): Promise<number> {
  const io = input.io ?? terminal();
  const inputs = await resolveInputs({
    flags: input.flags,
    io,
    client: lightsailDeps.makeClient,
    workshop: true,
    needCount: true,
  });
  const steps = selectSteps(STEPS, input.only, input.skip);
  const names = labNames(inputs.prefix, inputs.count ?? 0, inputs.limit);
  validateBlueprint(inputs.blueprintId);
  const client = lightsailDeps.makeClient(inputs.region, inputs.profile);
  const cloud = lightsailDeps.cloud;
  await validateRegion(client, inputs.region, cloud);
  const cost = await estimateCost(client, inputs.bundleId, names.length, cloud);
  const plan = await planFleet(client, names, cloud);
  if (plan.foreign.length) {
    throw new UserError(
      `${plan.foreign.join(', ')} already exist(s) in ${inputs.region} and not as this workshop's labs; nothing was created`,
      'choose another --prefix, or delete those instances yourself if they are really unused',
    );
  }
  const reg = await readRegistry();
  const done = new Set(plan.existing.filter((l) => reg.labs[recordName(l.name)]?.lastRun?.ok).map((l) => l.name));
  const todo = names.filter((n) => !done.has(n));
  write(
    `workshop "${inputs.prefix}" in ${inputs.region}: ${names.length} lab(s): ${plan.missing.length} to create, ${todo.length - plan.missing.length} to finish, ${done.size} ready`,
  );
  write(`estimated cost: ${formatCost(cost)}`);
  if (plan.missing.length > 0 && !inputs.yes) {
    if (!io.isTTY())
      throw new UserError(
        `not creating ${plan.missing.length} instance(s) without confirmation; nothing was created`,
        'check the estimated cost above, then re-run with --yes',
      );
    const ok = await io.prompter.confirm({
      message: `Create ${plan.missing.length} Lightsail instance(s) at ${formatCost(cost)}?`,
      default: false,
    });
    if (!ok) {
      write('cancelled: nothing was created');
      return 1;
    }
  }
  if (todo.length === 0) {
    write('every lab is ready; nothing to do (`ebpf-lab workshop roster` lists them)');
    return 0;
  }
  const dir = workshopDir(inputs.prefix);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const expiresAt = inputs.ttlMs ? new Date(Date.now() + inputs.ttlMs) : undefined;
  const progress = new FleetProgress(todo, {
    tty: Boolean(process.stdout.isTTY) && input.output !== 'plain',
    stream: process.stdout,
    write,
  });
  const results = await runPool(
    todo,
    workshopDeps.poolLimit,
    (name) => upOne(client, name, { ...inputs, expiresAt, dir, steps, options: input.options, progress }),
    {
      onEvent: (e) => e.type === 'start' && progress.set(e.item, 'starting'),
    },
  );
  progress.finish();
  const rows = todo.map((name, i) => {
    const r = results[i]!;
    return r.ok
      ? { name, ok: true, detail: `${r.value.user}@${r.value.host}${r.value.port === 22 ? '' : `:${r.value.port}`}` }
      : { name, ok: false, detail: firstLine(r.error) };
  });
  for (const name of done) rows.push({ name, ok: true, detail: 'ready from an earlier run' });
  rows.sort((a, b) => a.name.localeCompare(b.name));
  write('');
  for (const r of rows)
    write(`${r.ok ? '✓' : '✗'} ${r.name.padEnd(16)} ${(r.ok ? 'ok' : 'FAILED').padEnd(7)} ${r.detail}`);
  const failed = rows.filter((r) => !r.ok).length;
  write(
    `${rows.length - failed} of ${rows.length} lab(s) ready; logs in ${dir}${failed ? '; re-run the same command to finish the failed ones' : ''}`,
  );
  return failed ? 1 : 0;
}

/**
 * Per-lab progress: on a terminal a table redrawn in place (phase, seconds, last line);
 * otherwise one plain line per phase change, so CI logs stay readable.
 */
export class FleetProgress {
  private rows = new Map<string, { phase: string; detail: string; t0: number; t1?: number }>();
  private drawn = 0;
  private timer?: NodeJS.Timeout;
  constructor(
    names: string[],
    private o: { tty: boolean; stream: { write(s: string): unknown; columns?: number }; write: (s: string) => void },
  ) {
    for (const n of names) this.rows.set(n, { phase: 'queued', detail: '', t0: Date.now() });
    if (o.tty) (this.timer = setInterval(() => this.draw(), 500)).unref();
    // Plain output: a line at least every 15 s, saying what each unfinished lab is doing.
    else (this.timer = setInterval(() => this.heartbeat(), 5000)).unref();
  }
  private lastLine = Date.now();
  private heartbeat(): void {
    if (Date.now() - this.lastLine < 15_000) return;
    const busy = [...this.rows].filter(([, r]) => r.phase !== 'ok' && r.phase !== 'FAILED' && r.phase !== 'queued');
    if (busy.length === 0) return;
    this.lastLine = Date.now();
    const what = busy.map(([n, r]) => `${n} ${r.phase} ${Math.round((Date.now() - r.t0) / 1000)}s`).join(', ');
    this.o.write(`  … still working: ${what}`);
  }
  set(name: string, phase: string, detail = ''): void {
    const row = this.rows.get(name);
    if (!row || (row.phase === phase && !detail)) return;
    if (row.phase === 'queued') row.t0 = Date.now();
    if (phase === 'ok' || phase === 'FAILED') row.t1 = Date.now();
    const changed = row.phase !== phase;
    Object.assign(row, { phase, detail });
    if (!this.o.tty && changed) {
      this.lastLine = Date.now();
      this.o.write(`${name}: ${phase}${detail ? ` (${detail})` : ''}`);
    }
  }
  event(name: string, e: Parameters<Emit>[0]): void {
    const row = this.rows.get(name);
    if (!row) return;
    if (e.kind === 'step:start') this.set(name, e.id);
    else if (e.kind === 'note' || e.kind === 'step:progress') row.detail = e.line.replace(/\s+/g, ' ');
    else if (e.kind === 'step:end' && e.result.status === 'failed') this.set(name, `${e.result.id} FAILED`);
  }
  private draw(): void {
    const width = (this.o.stream.columns || 100) - 1;
    const lines = [...this.rows].map(([n, r]) => {
      const secs = r.phase === 'queued' ? '' : `${Math.round(((r.t1 ?? Date.now()) - r.t0) / 1000)}s`;
      return `${n.padEnd(16)} ${r.phase.padEnd(14)} ${secs.padStart(5)}  ${r.detail}`.slice(0, width);
    });
    this.o.stream.write((this.drawn ? `\x1b[${this.drawn}A` : '') + lines.map((l) => `\x1b[2K${l}\n`).join(''));
    this.drawn = lines.length;
  }
  finish(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.o.tty) this.draw();
  }
}

const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';

interface UpContext {
  region: string;
  profile?: string;
  bundleId: string;
  blueprintId: string;
  allowFrom?: string[];
  expiresAt?: Date;
  dir: string;
  steps: Step[];
  options: LabOptions;
  progress: FleetProgress;
}

/** One lab: cloud part, registry entry, steps; everything it prints goes to its own log file. */
async function upOne(client: LightsailClient, name: string, c: UpContext): Promise<LabEndpoint> {
  const logPath = join(c.dir, `${name}.log`);
  const stream = createWriteStream(logPath, { flags: 'a', mode: 0o600 });
  const renderer = plainRenderer((line) => stream.write(line + '\n'), true);
  const emit: Emit = (e) => {
    renderer(e);
    c.progress.event(name, e);
  };
  const log = (line: string) => emit({ kind: 'note', line });
  log(`--- workshop up ${name} at ${new Date().toISOString()}`);
  try {
    c.progress.set(name, 'cloud');
    const ep = await prepareLab(client, {
      name,
      region: c.region,
      bundleId: c.bundleId,
      blueprintId: c.blueprintId,
      allowFrom: c.allowFrom,
      expiresAt: c.expiresAt,
      validated: true,
      log,
    });
    const createdAt = (await readRegistry()).labs[recordName(name)]?.createdAt ?? new Date().toISOString();
    const record = { ...recordFor(ep), ...(c.profile ? { profile: c.profile } : {}) };
    // Recorded before the steps run, so `down` and a re-run know the lab even if provisioning fails.
    await saveLabLocked({ ...record, createdAt });
    c.progress.set(name, 'connecting', ep.host);
    const ok = await workshopDeps.provision(ep, { steps: c.steps, options: c.options, emit, log });
    await saveLabLocked({ ...record, createdAt, lastRun: { command: 'up', at: new Date().toISOString(), ok } });
    if (!ok) throw new Error(`a step failed (see ${logPath})`);
    c.progress.set(name, 'ok', ep.host);
    return ep;
  } catch (e) {
    log(`FAILED: ${e instanceof Error ? e.message : String(e)}`);
    c.progress.set(name, 'FAILED', firstLine(e));
    throw e;
  } finally {
    renderer.finish();
    await new Promise<void>((resolve) => stream.end(resolve));
  }
}

async function fleetClient(
  input: WorkshopInput,
): Promise<{ client: LightsailClient; region: string; prefix: string; expired: boolean; yes: boolean }> {
  const prefix = input.flags.prefix ?? 'lab';
  labNames(prefix, 1); // validates the prefix before any API call
  const inputs = await resolveInputs({
    flags: input.flags,
    io: input.io ?? terminal(),
    client: lightsailDeps.makeClient,
    knownRegion: await regionOfPrefix(prefix),
  });
  return {
    client: lightsailDeps.makeClient(inputs.region, inputs.profile),
    region: inputs.region,
    prefix: inputs.prefix,
    expired: inputs.expired,
    yes: inputs.yes,
  };
}

/** The roster of a workshop: printed, and written as roster.csv and roster.md (0600: passwords). */
export async function workshopRoster(input: WorkshopInput, write: (s: string) => void): Promise<number> {
  const { client, region, prefix } = await fleetClient(input);
  const labs = (await listLabs(client, lightsailDeps.cloud)).filter((l) => belongsTo(l, prefix));
  const rows: RosterRow[] = [];
  for (const l of labs) {
    const pw = (await grafanaPassword(l.name)) ?? '';
    const [row] = rosterRows([l], { [l.name]: pw });
    if (!row) continue;
    if (l.publicIp) {
      const { host, port } = lightsailDeps.endpoint(l as LabInstance & { publicIp: string });
      const key = join(keyDir(), l.keyPairName ?? defaultKeyPairName(l.name));
      row.ip = host;
      row.ssh = `ssh -i ${key}${port === 22 ? '' : ` -p ${port}`} ${l.username || 'ubuntu'}@${host}`;
    }
    rows.push(row);
  }
  const dir = workshopDir(prefix);
  await writePrivate(join(dir, 'roster.csv'), rosterCsv(rows));
  await writePrivate(join(dir, 'roster.md'), rosterMarkdown(rows));
  write(rosterMarkdown(rows).trimEnd());
  write(`${rows.length} lab(s) of "${prefix}" in ${region}; written to ${join(dir, 'roster.csv')} and roster.md`);
  return 0;
}

/** Deletes the workshop's labs (or only the expired ones): instances and key pairs tagged for them. */
export async function workshopDown(input: WorkshopInput, write: (s: string) => void): Promise<number> {
  const { client, region, prefix, expired, yes } = await fleetClient(input);
  const cloud = lightsailDeps.cloud;
  const all = (await listLabs(client, cloud)).filter((l) => belongsTo(l, prefix));
  const labs = expired ? expiredLabs(all, (cloud.now ?? Date.now)()) : all;
  if (!expired) {
    // labs deleted by other means: drop them from the registry too
    const live = new Set(all.map((l) => recordName(l.name)));
    for (const rec of Object.values((await readRegistry()).labs))
      if (
        rec.kind === 'lightsail' &&
        rec.region === region &&
        rec.name.startsWith(recordName(`${prefix}-`)) &&
        !live.has(rec.name)
      )
        await forgetLabLocked(rec.name);
  }
  if (labs.length === 0) {
    write(`no ${expired ? 'expired ' : ''}labs of "${prefix}" in ${region}; nothing to delete`);
    return 0;
  }
  const names = labs.map((l) => l.name).join(', ');
  // Deleting paid resources: asked on a terminal, --yes without one; nothing is deleted before.
  if (!yes)
    await confirmDeletion(
      input.io ?? terminal(),
      `${labs.length} Lightsail lab(s) of "${prefix}" in ${region} (${names})`,
    );
  write(`deleting ${labs.length} lab(s) of "${prefix}" in ${region}: ${names}`);
  const results = await runPool(labs, workshopDeps.poolLimit, async (l) => {
    const hostKeys = await hostKeysToForget(client, l.name);
    const changes = await destroyLab(client, l.name, { ...cloud, keyPairName: defaultKeyPairName(l.name) });
    if (changes.some((c) => c.kind === 'lightsail' && c.instance === l.name && c.action === 'delete'))
      await forgetHostKeysOf(hostKeys);
    await forgetLabLocked(recordName(l.name));
    return changes;
  });
  let failed = 0;
  results.forEach((r, i) => {
    const name = labs[i]!.name;
    if (r.ok) write(`✓ ${name.padEnd(16)} deleted (${r.value.map(changeLabel).join(', ') || 'already gone'})`);
    else {
      failed += 1;
      write(`✗ ${name.padEnd(16)} FAILED ${firstLine(r.error)}`);
    }
  });
  return failed ? 1 : 0;
}
