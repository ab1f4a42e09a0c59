// Substitute: the Lightsail API is aws-sdk-client-mock.
import {
  GetBundlesCommand,
  GetInstanceCommand,
  GetInstancesCommand,
  LightsailClient,
  NotFoundException,
} from '@aws-sdk/client-lightsail';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { costFromPrice, estimateCost, formatCost } from '../../src/cloud/cost.js';
import type { LabInstance } from '../../src/cloud/lightsail.js';
import { labNames, planFleet, rosterCsv, rosterMarkdown, rosterRows } from '../../src/cloud/lightsail-fleet.js';
import { labTags } from '../../src/cloud/tags.js';

const lightsail = mockClient(LightsailClient);
const client = new LightsailClient({ region: 'eu-central-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
beforeEach(() => lightsail.reset());

describe('labNames', () => {
  it('pads to two digits, or more for big fleets', () => {
    expect(labNames('lab', 3)).toEqual(['lab-01', 'lab-02', 'lab-03']);
    expect(labNames('ws-php', 1)).toEqual(['ws-php-01']);
    expect(labNames('x', 100, 150).at(-1)).toBe('x-100');
    expect(labNames('x', 100, 150)[0]).toBe('x-001');
  });

  it('refuses bad prefixes and counts outside 1..limit', () => {
    for (const p of ['Lab', '1lab', 'lab_1', '', 'a'.repeat(42), 'lab 1'])
      expect(() => labNames(p, 2), p).toThrow(UserError);
    expect(() => labNames('lab', 0)).toThrow(/between 1 and 20, got 0/);
    expect(() => labNames('lab', 2.5)).toThrow(UserError);
    expect(() => labNames('lab', 21)).toThrow(/between 1 and 20, got 21/);
    expect(labNames('lab', 30, 30)).toHaveLength(30);
  });
});

describe('planFleet', () => {
  it('sorts names into existing (ours), missing and foreign', async () => {
    lightsail.on(GetInstancesCommand).resolves({
      instances: [
        { name: 'lab-01', state: { name: 'running' }, tags: labTags('lab-01') },
        { name: 'lab-03', state: { name: 'running' }, tags: labTags('someone-else') },
      ],
    });
    lightsail
      .on(GetInstanceCommand, { instanceName: 'lab-02' })
      .rejects(new NotFoundException({ message: 'x', $metadata: {} }));
    lightsail.on(GetInstanceCommand, { instanceName: 'lab-04' }).resolves({ instance: { name: 'lab-04', tags: [] } });
    const plan = await planFleet(client, ['lab-01', 'lab-02', 'lab-03', 'lab-04']);
    expect(plan.existing.map((l) => l.name)).toEqual(['lab-01']);
    expect(plan.missing).toEqual(['lab-02']);
    expect(plan.foreign).toEqual(['lab-03', 'lab-04']);
  });
});

describe('cost', () => {
  it('turns the monthly price into per-hour (/730) and per-day for the fleet', () => {
    const c = costFromPrice('small_3_0', 12, 30);
    expect(c.hourlyPerInstance).toBeCloseTo(12 / 730, 10);
    expect(c.perHour).toBeCloseTo(0.49315068, 6);
    expect(c.perDay).toBeCloseTo(11.8356164, 6);
    expect(c.perMonth).toBe(360);
    expect(formatCost(c)).toBe(
      '30 × small_3_0 ($12.00/month each): $0.49/hour, $11.84/day for the fleet (USD, before data transfer)',
    );
  });

  it('prices from GetBundles across pages; unknown bundle is a UserError', async () => {
    lightsail
      .on(GetBundlesCommand)
      .resolvesOnce({ bundles: [{ bundleId: 'nano_3_0', price: 5, isActive: true }], nextPageToken: 't' })
      .resolvesOnce({ bundles: [{ bundleId: 'medium_3_0', price: 24, isActive: true }] })
      .resolvesOnce({ bundles: [] });
    const c = await estimateCost(client, 'medium_3_0', 10);
    expect(c.perDay).toBeCloseTo((24 / 730) * 24 * 10, 10);
    expect(lightsail.commandCalls(GetBundlesCommand)[1]!.args[0].input).toMatchObject({ pageToken: 't' });
    await expect(estimateCost(client, 'small_3_0', 1)).rejects.toBeInstanceOf(UserError);
  });
});

describe('roster', () => {
  const lab = (name: string, ip?: string): LabInstance => ({
    name,
    lab: name,
    state: 'running',
    publicIp: ip,
    username: 'ubuntu',
    ours: true,
    tags: {},
  });
  const rows = rosterRows(
    [lab('lab-02', '203.0.113.2'), lab('lab-01', '203.0.113.1'), lab('lab-03')],
    { 'lab-01': 'p,w"1', 'lab-02': 'a|b`c' },
    { keyPath: 'keys/ws' },
  );

  it('builds one sorted row per lab; a lab without IP has empty cells', () => {
    expect(rows[0]).toEqual({
      lab: 'lab-01',
      ip: '203.0.113.1',
      grafanaUrl: 'http://203.0.113.1:3000/',
      grafanaPassword: 'p,w"1',
      ssh: 'ssh -i keys/ws ubuntu@203.0.113.1',
    });
    expect(rows[2]).toEqual({ lab: 'lab-03', ip: '', grafanaUrl: '', grafanaPassword: '', ssh: '' });
  });

  it('writes CSV with RFC 4180 quoting', () => {
    expect(rosterCsv(rows)).toBe(
      'lab,ip,grafana_url,grafana_password,ssh\r\n' +
        'lab-01,203.0.113.1,http://203.0.113.1:3000/,"p,w""1",ssh -i keys/ws ubuntu@203.0.113.1\r\n' +
        'lab-02,203.0.113.2,http://203.0.113.2:3000/,a|b`c,ssh -i keys/ws ubuntu@203.0.113.2\r\n' +
        'lab-03,,,,\r\n',
    );
    expect(rosterCsv([{ lab: 'x', ip: '', grafanaUrl: '', grafanaPassword: 'two\nlines', ssh: '' }])).toContain(
      'x,,,"two\nlines",\r\n',
    );
  });

  it('writes a Markdown table whose cells cannot break the table', () => {
    const md = rosterMarkdown(rows).split('\n');
    expect(md[0]).toBe('| Lab | IP | Grafana | Grafana password | SSH |');
    expect(md[1]).toBe('| --- | --- | --- | --- | --- |');
    expect(md[2]).toBe(
      '| lab-01 | 203.0.113.1 | http://203.0.113.1:3000/ | `p,w"1` | `ssh -i keys/ws ubuntu@203.0.113.1` |',
    );
    expect(md[3]).toBe(
      '| lab-02 | 203.0.113.2 | http://203.0.113.2:3000/ | ``a\\|b`c`` | `ssh -i keys/ws ubuntu@203.0.113.2` |',
    );
    expect(md[4]).toBe('| lab-03 |  |  |  |  |');
  });
});
