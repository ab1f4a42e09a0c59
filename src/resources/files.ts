import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { quote, quoteArgv } from '../transports/quote.js';
import { hostScript } from '../render/script.js';
import { notRegularFile } from '../transports/sudo.js';
import { fileDiff } from '../render/diff.js';
import { probe, type Probe } from './probe.js';
import { ofKind, type Change, type StepContext } from '../runner/types.js';

/** A file the lab manages: whole content, mode and owner, replaced atomically. */
export interface FileSpec {
  path: string;
  content: string | Buffer;
  mode?: number;
  owner?: string;
  group?: string;
  /** Validator run on the temp file before it goes live (`{}` = temp path). */
  validate?: string[];
  /** Never show its content in diffs, plans or logs. */
  secret?: boolean;
  /** A unit to restart or reload when this file changes. */
  notify?: { unit: string; action: 'restart' | 'reload' };
}

export interface FileState {
  exists: boolean;
  sha256?: string;
  mode?: number;
  owner?: string;
  group?: string;
  /** Current content when small enough to diff. */
  content?: string;
  /** Not a regular file but this (`directory`, `fifo`…): ebpf-lab never replaces it. */
  other?: string;
}

const MAX_DIFF_BYTES = 256 * 1024;

/**
 * One file's mode, owner, sha256 and, for the diff of an update, its content.
 *
 * With `want` (the sha256 of the wanted content) the sha256 is the fingerprint that decides
 * whether the content is read at all: it is sent (base64, up to 256 KiB) only when the file's
 * sha256 differs from `want`. That is enough because the content is used for nothing but the
 * diff of an `update`, and fileChanges() plans an update exactly when the sha256 differs;
 * equal sha256 means equal content. The sha256 itself is computed over the whole file on
 * every run, so no change to the content goes unseen. A converged file then costs a stat
 * and a sha256sum, and none of its bytes cross the wire.
 */
export function fileProbe(path: string, withContent = true, want?: string): Probe<FileState> {
  const p = quote(path);
  const read = `if [ "$(stat -c %s ${p})" -le ${MAX_DIFF_BYTES} ]; then base64 -w0 ${p}; fi`;
  const body = !withContent ? 'true' : want ? `[ "$h" = ${want} ] || { ${read}; }` : read;
  return probe(
    // sha256sum prints "<hash>  <path>" (a leading backslash when the path needs escaping).
    `if [ -f ${p} ] && [ ! -L ${p} ]; then stat -c '%a %U %G' ${p}; set -- $(sha256sum ${p}); h=\${1#\\\\}; echo "$h"; ${body}; echo; ` +
      `elif [ -e ${p} ] && [ ! -L ${p} ]; then echo "other $(stat -c %F ${p})"; else echo absent; fi`,
    (out) => {
      const [meta = '', sha = '', b64 = ''] = out.split('\n');
      if (meta === 'absent') return { exists: false };
      if (meta.startsWith('other ')) return { exists: false, other: meta.slice(6) };
      const [mode, owner, group] = meta.split(' ');
      return {
        exists: true,
        sha256: sha.trim(),
        mode: parseInt(mode ?? '0', 8),
        owner,
        group,
        content: b64 ? Buffer.from(b64, 'base64').toString('utf8') : undefined,
      };
    },
    { id: 'file', args: path },
    { kind: 'file', item: `${withContent ? 1 : 0}\t${want ?? '-'}\t${path}`, script: filesScript },
  );
}

/** fileProbe's batch: every file's state in one stat and one sha256sum (templates/scripts/files-state.sh). */
function filesScript(items: string[], mark: string): string {
  const paths = items.map((item) => item.split('\t')[2]!);
  if (paths.some((p) => /[\n\t]/.test(p)))
    throw new Error(`a managed path holds a newline or tab: ${paths.join(', ')}`);
  return hostScript('files-state', {
    PATHS: quoteArgv(paths),
    ITEMS: quote(items.join('\n')),
    MARK: mark,
    MAX: MAX_DIFF_BYTES,
  });
}

export function sha256(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/** Changes needed to bring one file to its spec (content first, then metadata). */
export function fileChanges(spec: FileSpec, state: FileState, host = 'the host'): Change[] {
  const mode = spec.mode ?? 0o644;
  const owner = spec.owner ?? 'root';
  const group = spec.group ?? 'root';
  const file = { kind: 'file', path: spec.path } as const;
  const want = sha256(spec.content);
  const text = typeof spec.content === 'string' ? spec.content : spec.content.toString('utf8');
  if (state.other) throw notRegularFile(host, spec.path, state.other);
  if (!state.exists) return [{ ...file, action: 'create', detail: fileDiff(spec.path, undefined, text, spec.secret) }];
  const out: Change[] = [];
  if (state.sha256 !== want) {
    out.push({
      ...file,
      action: 'update',
      detail:
        state.content !== undefined
          ? fileDiff(spec.path, state.content, text, spec.secret)
          : `sha256 ${state.sha256} -> ${want}`,
    });
    return out; // put() rewrites mode and owner too
  }
  if (state.mode !== mode)
    out.push({ ...file, action: 'chmod', detail: `${state.mode?.toString(8)} -> ${mode.toString(8)}` });
  if (state.owner !== owner || state.group !== group)
    out.push({ ...file, action: 'chown', detail: `${state.owner}:${state.group} -> ${owner}:${group}` });
  return out;
}

/** Applies the changes of one file: upload (atomic, validated) or metadata fix. */
export async function applyFile(ctx: StepContext, spec: FileSpec, changes: Change[]): Promise<void> {
  const mine = ofKind(changes, 'file').filter((c) => c.path === spec.path);
  if (mine.length === 0) return;
  const mode = spec.mode ?? 0o644;
  const owner = spec.owner ?? 'root';
  const group = spec.group ?? 'root';
  if (mine.some((c) => c.action === 'create' || c.action === 'update')) {
    await ctx.host.put(spec.path, spec.content, { mode, owner, group, validate: spec.validate });
    return;
  }
  await ctx.host.exec(['chmod', mode.toString(8), spec.path], { sudo: true });
  await ctx.host.exec(['chown', `${owner}:${group}`, spec.path], { sudo: true });
}

/** A file that must not exist (e.g. a drop-in when a feature is turned off). */
export function absentFileChanges(path: string, state: FileState, host = 'the host'): Change[] {
  if (state.other) throw notRegularFile(host, path, state.other);
  return state.exists ? [{ kind: 'file', path, action: 'delete' }] : [];
}

export function parentDir(path: string): string {
  return posix.dirname(path);
}
