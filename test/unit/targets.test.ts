// Every registered target implements the whole Target interface, its forms parse to specs of
// its own kind (and to no other target's), and its flags are well-formed and its own.
import { describe, expect, it } from 'vitest';
import { flagName, parseTarget, targetFlags, TARGETS, targetOfKind } from '../../src/targets/index.js';
import type { Target } from '../../src/targets/target.js';

/** Every member of the interface; a method added to Target must be added here (and the check fails until every target has it). */
const MEMBERS: Record<keyof Target, 'function' | 'string' | 'object' | 'boolean'> = {
  kind: 'string',
  forms: 'object',
  summary: 'string',
  flags: 'object',
  defaults: 'object',
  downDestroysHost: 'boolean',
  parse: 'function',
  recordName: 'function',
  resolve: 'function',
  open: 'function',
  down: 'function',
  status: 'function',
  formatStatus: 'function',
  sshArgs: 'function',
};

/** A concrete --target for each documented form. */
const example = (form: string) =>
  form
    .replace('NAME', 'lab-2')
    .replace('user@host[:port]', 'ubuntu@192.0.2.7:2222')
    .replace(/\[.*\]/, '');

describe('target registry', () => {
  it('lists the four kinds, each once', () => {
    expect(TARGETS.map((t) => t.kind)).toEqual(['sandbox', 'ssh', 'local', 'lightsail']);
  });

  it.each(TARGETS.map((t) => [t.kind, t] as const))('%s implements the whole interface', (kind, t) => {
    for (const [member, type] of Object.entries(MEMBERS))
      expect(typeof (t as unknown as Record<string, unknown>)[member], `${kind}.${member}`).toBe(type);
    expect(t.forms.length).toBeGreaterThan(0);
    expect(['release', 'package']).toContain(t.defaults.prometheusSource);
    expect(targetOfKind(kind)).toBe(t);
    // Methods take the arguments the interface gives them.
    expect(t.parse.length).toBeLessThanOrEqual(1);
    expect(t.formatStatus.length).toBeLessThanOrEqual(1);
  });

  it.each(TARGETS.flatMap((t) => t.forms.map((f) => [example(f), t] as const)))(
    '%s parses to its own kind only, and its label parses back to the same lab',
    (raw, t) => {
      const spec = t.parse(raw);
      expect(spec?.kind).toBe(t.kind);
      for (const other of TARGETS.filter((o) => o !== t)) expect(other.parse(raw), other.kind).toBeUndefined();
      const chosen = parseTarget(raw);
      expect(chosen.target).toBe(t);
      expect(parseTarget(spec!.label).recordName).toBe(chosen.recordName);
      expect(chosen.recordName).toBe(t.recordName(spec!));
    },
  );

  it.each(TARGETS.map((t) => [t.kind, t] as const))("%s's flags are well-formed and no other target's", (_k, t) => {
    for (const f of t.flags) {
      expect(f.flags).toMatch(/^(-[a-z], )?--[a-z][a-z0-9-]*( <[a-z-]+>)?$/);
      expect(f.description.length).toBeGreaterThan(10);
      expect(['reach', 'create']).toContain(f.use);
      const name = flagName(f);
      for (const other of TARGETS.filter((o) => o !== t))
        expect(other.flags.map(flagName), `--${name} is declared by ${t.kind} and ${other.kind}`).not.toContain(name);
    }
  });

  it('reach flags are offered to every command with --target, create flags to up only', () => {
    const reach = targetFlags('use').map(flagName);
    expect(reach).toEqual(expect.arrayContaining(['key', 'region', 'profile', 'config']));
    expect(reach).not.toContain('bundle');
    expect(targetFlags('create').map(flagName)).toEqual(expect.arrayContaining([...reach, 'bundle', 'allow-from']));
  });

  it('sandboxes and Lightsail instances are destroyed by down; ssh hosts and this machine are not', () => {
    expect(Object.fromEntries(TARGETS.map((t) => [t.kind, t.downDestroysHost]))).toEqual({
      sandbox: true,
      ssh: false,
      local: false,
      lightsail: true,
    });
  });
});
