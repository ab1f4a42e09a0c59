/**
 * Colour on or off, the way other command-line tools decide: NO_COLOR (any non-empty value)
 * turns it off, FORCE_COLOR turns it on (FORCE_COLOR=0 off), TERM=dumb turns it off, and
 * otherwise only a terminal gets colour. https://no-color.org, https://force-color.org
 */
import pc from 'picocolors';

export type Colours = ReturnType<typeof pc.createColors>;

export function colourEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env['NO_COLOR']) return false;
  if (env['FORCE_COLOR'] !== undefined) return !['0', 'false'].includes(env['FORCE_COLOR']);
  if (env['TERM'] === 'dumb') return false;
  return Boolean(stream.isTTY);
}

export function colours(on: boolean): Colours {
  return pc.createColors(on);
}

/** A terminal that can redraw a line (TERM=dumb cannot: it gets plain lines). */
export function canRedraw(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(stream.isTTY) && env['TERM'] !== 'dumb';
}
