/** POSIX shell quoting shared by every transport, so fixtures match across them. */
export function quote(arg: string): string {
  if (arg === '') return "''";
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return "'" + arg.replace(/'/g, `'\\''`) + "'";
}

export function quoteArgv(argv: readonly string[]): string {
  return argv.map(quote).join(' ');
}
