// Substitute: the Lightsail API is aws-sdk-client-mock.
import {
  GetInstancePortStatesCommand,
  LightsailClient,
  PutInstancePublicPortsCommand,
} from '@aws-sdk/client-lightsail';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { canonicalCidr, desiredPorts, ensurePorts, parseCidr } from '../../src/cloud/ports.js';

const lightsail = mockClient(LightsailClient);
const client = new LightsailClient({ region: 'eu-central-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });

const rule = (port: number, cidrs: string[], ipv6Cidrs: string[] = [], extra: object = {}) => ({
  fromPort: port,
  toPort: port,
  protocol: 'tcp' as const,
  state: 'open' as const,
  cidrs,
  ipv6Cidrs,
  ...extra,
});

beforeEach(() => {
  lightsail.reset();
  lightsail.on(PutInstancePublicPortsCommand).resolves({});
});

describe('ensurePorts', () => {
  it('does nothing when the rules already match (order and cidr order ignored), but notes open-to-all', async () => {
    lightsail.on(GetInstancePortStatesCommand).resolves({
      portStates: [
        rule(3000, ['0.0.0.0/0'], ['::/0']),
        rule(22, ['0.0.0.0/0'], ['::/0']),
        rule(80, ['0.0.0.0/0'], ['::/0']),
      ],
    });
    const r = await ensurePorts(client, 'lab-01');
    expect(r.changed).toBe(false);
    expect(r.note).toMatch(/open to everyone; use --allow-from/);
    expect(lightsail.commandCalls(PutInstancePublicPortsCommand)).toHaveLength(0);
  });

  it('replaces Lightsail defaults (22/80 + browser SSH alias) with exactly 22, 80, 3000', async () => {
    lightsail.on(GetInstancePortStatesCommand).resolves({
      portStates: [
        rule(22, ['0.0.0.0/0'], ['::/0'], { cidrListAliases: ['lightsail-connect'] }),
        rule(80, ['0.0.0.0/0'], ['::/0']),
      ],
    });
    const r = await ensurePorts(client, 'lab-01');
    expect(r.changed).toBe(true);
    expect(r.change).toMatchObject({ kind: 'lightsail', instance: 'lab-01', action: 'update' });
    const input = lightsail.commandCalls(PutInstancePublicPortsCommand)[0]!.args[0].input;
    expect(input.instanceName).toBe('lab-01');
    expect(input.portInfos).toEqual(
      [22, 80, 3000].map((p) => ({
        fromPort: p,
        toPort: p,
        protocol: 'tcp',
        cidrs: ['0.0.0.0/0'],
        ipv6Cidrs: ['::/0'],
      })),
    );
  });

  it('restricts to --allow-from CIDRs split by family, no note, and converges on the next run', async () => {
    lightsail.on(GetInstancePortStatesCommand).resolvesOnce({ portStates: [rule(22, ['0.0.0.0/0'], ['::/0'])] });
    const allowFrom = ['203.0.113.7', '2001:DB8::/32', '198.51.100.9/24'];
    const r = await ensurePorts(client, 'lab-01', { allowFrom });
    expect(r).toMatchObject({ changed: true, note: undefined });
    const put = lightsail.commandCalls(PutInstancePublicPortsCommand)[0]!.args[0].input.portInfos!;
    expect(put[0]).toEqual({
      fromPort: 22,
      toPort: 22,
      protocol: 'tcp',
      cidrs: ['203.0.113.7/32', '198.51.100.0/24'],
      ipv6Cidrs: ['2001:db8::/32'],
    });
    // second run: Lightsail now reports what was put (in another order)
    lightsail.on(GetInstancePortStatesCommand).resolves({
      portStates: put.map((p) => ({ ...p, state: 'open' as const, cidrs: [...(p.cidrs ?? [])].reverse() })),
    });
    expect((await ensurePorts(client, 'lab-01', { allowFrom })).changed).toBe(false);
    expect(lightsail.commandCalls(PutInstancePublicPortsCommand)).toHaveLength(1);
  });

  it("IPv6 compared in canonical form: --allow-from 2001:0db8::/32 against the API's 2001:db8::/32 is no change", async () => {
    const allowFrom = ['203.0.113.0/24', '2001:0db8::/32', '2001:0DB8:0000:0001::7/64'];
    lightsail.on(GetInstancePortStatesCommand).resolves({
      portStates: [22, 80, 3000].map((p) => rule(p, ['203.0.113.0/24'], ['2001:db8:0:1::/64', '2001:db8::/32'])),
    });
    const r = await ensurePorts(client, 'lab-01', { allowFrom });
    expect(r.changed).toBe(false);
    expect(lightsail.commandCalls(PutInstancePublicPortsCommand)).toHaveLength(0);
    // and the other way round: an API answer in a long spelling equals the canonical desired set
    lightsail.on(GetInstancePortStatesCommand).resolves({
      portStates: [22, 80, 3000].map((p) =>
        rule(p, ['203.0.113.0/24'], ['2001:0DB8:0:0:0:0:0:0/32', '2001:db8:0:1:0:0:0:0/64']),
      ),
    });
    expect(
      (await ensurePorts(client, 'lab-01', { allowFrom: ['203.0.113.0/24', '2001:db8::/32', '2001:db8:0:1::/64'] }))
        .changed,
    ).toBe(false);
    // a really different range is still a change
    expect((await ensurePorts(client, 'lab-01', { allowFrom: ['203.0.113.0/24', '2001:db9::/32'] })).changed).toBe(
      true,
    );
  });

  it('rejects a bad CIDR with a UserError before calling the API', async () => {
    for (const bad of ['10.0.0.0/33', 'example.com/24', '10.0.0/8', '1.2.3.4/8/9', '::1/129', '']) {
      const err = await ensurePorts(client, 'lab-01', { allowFrom: [bad] }).catch((e) => e);
      expect(err, bad).toBeInstanceOf(UserError);
    }
    expect(lightsail.commandCalls(GetInstancePortStatesCommand)).toHaveLength(0);
  });
});

describe('parseCidr / desiredPorts', () => {
  it('normalises addresses and prefixes', () => {
    expect(parseCidr(' 10.1.2.3/8 ')).toEqual({ family: 4, cidr: '10.0.0.0/8' });
    expect(parseCidr('0.0.0.0/0')).toEqual({ family: 4, cidr: '0.0.0.0/0' });
    expect(parseCidr('255.255.255.255')).toEqual({ family: 4, cidr: '255.255.255.255/32' });
    expect(parseCidr('::1')).toEqual({ family: 6, cidr: '::1/128' });
    // IPv6: RFC 5952 text (lower case, no leading zeros, longest zero run as ::) of the network address
    expect(parseCidr('2001:0db8::/32')).toEqual({ family: 6, cidr: '2001:db8::/32' });
    expect(parseCidr('2001:0DB8:0:0:0:0:0:1')).toEqual({ family: 6, cidr: '2001:db8::1/128' });
    expect(parseCidr('2001:db8:aaaa:bbbb::1/48')).toEqual({ family: 6, cidr: '2001:db8:aaaa::/48' });
    expect(canonicalCidr(' 2001:DB8:0:0:1:0:0:1/128 ')).toBe('2001:db8::1:0:0:1/128');
    expect(canonicalCidr('::/0')).toBe('::/0');
    expect(desiredPorts(['192.0.2.0/24'])[2]).toEqual({
      fromPort: 3000,
      toPort: 3000,
      protocol: 'tcp',
      cidrs: ['192.0.2.0/24'],
      ipv6Cidrs: [],
    });
  });
});
