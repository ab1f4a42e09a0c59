/**
 * Credentials in URLs (`https://user:password@mirror/…`, `https://token@mirror/…`, a --mirror
 * with basic auth) are never printed: every message that shows such a URL goes through here.
 * A plain user name of an ssh:// target (`ssh://root@host`) is no secret and stays.
 */
export function redactUrls(text: string): string {
  return text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]*:[^\s/@]*@/gi, '$1***@')
    .replace(/\b((?:https?|ftps?):\/\/)[^\s/@:]+@/gi, '$1***@');
}
