import { describe, expect, it } from 'vitest';
import { pendingTransport } from '../../src/transports/pending.js';
import { heldEvents, type RunEvent } from '../../src/runner/events.js';
import { connectLocal } from '../../src/transports/local.js';
import { countRoundTrips } from '../../src/runner/count.js';

const tick = () => new Promise((r) => setTimeout(r, 20));

describe('a run that starts before its host is open', () => {
  it('commands wait for the open transport, then go to it; later ones go straight there', async () => {
    const real = countRoundTrips(await connectLocal());
    const { host, settle, opened } = pendingTransport(real.host.name);
    let answered = false;
    const first = host.exec(['echo', 'first']).then((r) => ((answered = true), r));
    await tick();
    expect(answered).toBe(false);
    expect(real.count()).toBe(0);
    let open = false;
    void opened.then(() => (open = true));
    await tick();
    expect(open).toBe(false);
    settle(real.host);
    expect((await first).stdout).toBe('first\n');
    expect((await host.exec(['echo', 'then'])).stdout).toBe('then\n');
    expect(real.count()).toBe(2);
    expect(open).toBe(true);
    await real.host.close();
  });

  it('never settled (the connection failed): its commands run nothing and never answer', async () => {
    const { host } = pendingTransport('root@192.0.2.1:22');
    let settledAtAll = false;
    void host.exec(['true']).finally(() => (settledAtAll = true));
    await tick();
    expect(settledAtAll).toBe(false);
    await host.close(); // closes nothing: the opener closes what it opened
  });

  it('refuses a transport under another name: the run was told a name the host does not have', async () => {
    const { settle } = pendingTransport('root@127.0.0.1:2222');
    const local = await connectLocal();
    expect(() => settle(local)).toThrow(/settled with local/);
    await local.close();
  });

  it('its events are held until the host is open, then passed on in order, and later ones at once', () => {
    const seen: RunEvent[] = [];
    const held = heldEvents((e) => seen.push(e));
    held.emit({ kind: 'run:start', host: 'h', mode: 'up', steps: ['a'] });
    held.emit({ kind: 'note', line: 'one' });
    expect(seen).toEqual([]);
    held.release();
    expect(seen.map((e) => e.kind)).toEqual(['run:start', 'note']);
    held.emit({ kind: 'note', line: 'two' });
    expect(seen).toHaveLength(3);
    held.release(); // (again: nothing more)
    expect(seen).toHaveLength(3);
  });
});
