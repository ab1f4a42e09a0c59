import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, ROOT } from '../support/cli.js';
import { onHost, TARGET, useLab, type Lab } from '../support/fault.js';

/**
 * Load: `ebpf-lab load` drives both SAPIs for EBPF_LAB_LOAD_SECONDS (default 90; the issue's
 * ten minutes is `EBPF_LAB_LOAD_SECONDS=600`, run by hand, figures in RELIABILITY.md) at
 * EBPF_LAB_LOAD_RATE requests per second (default 200: what this 2-core CI machine sustains
 * with no request lost, see RELIABILITY.md), with the lab's BPF programs attached by lab-attach (bpf/tools/lab-attach.c,
 * a TEST STAND-IN for ebpf_exporter: it loads and attaches the same objects and reads their
 * maps back). Promises checked: every program stays attached (its bpf_link fds do not go
 * away), no sample the design counts is lost (answered requests == histogram count growth +
 * dropped counter growth), no map fills up (entries vs max_entries, or the dropped counter
 * says so), and the RSS of the stand-in and of Prometheus stays bounded.
 */
const lab: Lab = useLab();
const SECONDS = Number(process.env['EBPF_LAB_LOAD_SECONDS'] ?? 90);
const RATE = Number(process.env['EBPF_LAB_LOAD_RATE'] ?? 200);
const BUCKET_MAX = 26; // php_request.bpf.c: key.bucket <= 26 is a histogram bucket, 27 the sum row

interface Dump {
  maps: { object: string; name: string; max_entries: number; entries: { key: string; value: number }[] }[];
}

const dump = (): Dump =>
  JSON.parse(
    onHost(
      lab,
      `cd /root/la; n=$(wc -l < out); echo dump > in; for i in $(seq 100); do [ "$(wc -l < out)" -gt "$n" ] && break; sleep 0.1; done; tail -n1 out`,
    ),
  );
const map = (d: Dump, name: string) => d.maps.filter((m) => m.name === name).flatMap((m) => m.entries);
const histCount = (d: Dump) =>
  map(d, 'php_request_duration_seconds')
    .filter(
      (e) => Buffer.from(e.key, 'hex').readBigUInt64LE(Buffer.from(e.key, 'hex').length - 8) <= BigInt(BUCKET_MAX),
    )
    .reduce((a, e) => a + e.value, 0);
const total = (d: Dump, name: string) => map(d, name).reduce((a, e) => a + e.value, 0);
const links = () => Number(onHost(lab, `ls -l /proc/$(pgrep -x lab-attach)/fd | grep -c bpf.link`).trim());

describe(`load: ${RATE} req/s for ${SECONDS}s with the programs attached (lab-attach: a stand-in for ebpf_exporter)`, () => {
  let attach: { programs: { program: string; attached: boolean }[] };
  beforeAll(() => {
    const out = mkdtempSync(join(tmpdir(), 'lab-attach-'));
    execFileSync('make', ['-s', '-C', join(ROOT, 'bpf'), `OUT=${out}`, 'loader']);
    onHost(lab, 'pkill -x lab-attach; pkill -x -f "sleep 100000"; true'); // left by an aborted earlier run
    execFileSync('scp', [
      '-q',
      ...lab.sshBase.slice(0, -1).map((a) => (a === '-p' ? '-P' : a)),
      join(out, 'lab-attach'),
      'root@127.0.0.1:/root/lab-attach',
    ]);
    rmSync(out, { recursive: true, force: true });
    // Detached from the ssh session: a fifo kept open by a sleeper carries dump/quit commands.
    attach = JSON.parse(
      onHost(
        lab,
        `set -e; rm -rf /root/la; mkdir /root/la; cd /root/la; mkfifo in
      setsid -f sh -c 'exec /root/lab-attach --strict /opt/ebpf-lab/bpf/*.bpf.o < /root/la/in > /root/la/out 2> /root/la/err' </dev/null >/dev/null 2>&1
      setsid -f sh -c 'exec sleep 100000 > /root/la/in' </dev/null 2>/dev/null
      for i in $(seq 200); do [ -s out ] && break; sleep 0.1; done; head -n1 out`,
      ),
    );
  });

  afterAll(() => {
    onHost(
      lab,
      'echo quit > /root/la/in; sleep 1; pkill -x -f "sleep 100000" || true; rm -rf /root/la /root/lab-attach',
    );
  });

  it('every program stays attached, no counted sample is lost, maps do not fill, memory stays bounded', async () => {
    expect(attach.programs.length).toBeGreaterThanOrEqual(13);
    expect(attach.programs.filter((p) => !p.attached)).toEqual([]);
    const linksBefore = links();
    expect(linksBefore).toBeGreaterThan(0);
    const before = dump();
    // RSS (kB) of the stand-in and Prometheus every 5 s while the load runs.
    onHost(
      lab,
      `setsid -f sh -c 'while pgrep -x lab-attach >/dev/null && [ ! -e /root/la/stop ]; do echo "$(date +%s) $(ps -o rss= -p $(pgrep -x lab-attach)) $(ps -o rss= -C prometheus | head -1)" >> /root/la/rss; sleep 5; done' </dev/null >/dev/null 2>&1`,
    );
    const t0 = Date.now();
    const load = await cli(
      ['load', '--target', TARGET, '--rate', String(RATE), '--duration', `${SECONDS}s`, '--output', 'json'],
      lab.env,
      (SECONDS + 120) * 1000,
    );
    expect(load.code, load.stdout + load.stderr).toBe(0);
    const summary = JSON.parse(load.stdout) as {
      sent: number;
      ok: number;
      errors: number;
      failed: number;
      rate: number;
      sapis: Record<string, number>;
    };
    const elapsed = (Date.now() - t0) / 1000;
    summary.rate = Math.round((summary.sent / elapsed) * 10) / 10;
    onHost(lab, 'touch /root/la/stop');
    const after = dump();
    const linksAfter = links();

    const answered = summary.sent - summary.failed;
    const counted = histCount(after) - histCount(before);
    const dropped = total(after, 'php_request_dropped_total') - total(before, 'php_request_dropped_total');
    const fill = after.maps.map((m) => ({
      map: `${m.object}:${m.name}`,
      entries: m.entries.length,
      max: m.max_entries,
    }));
    const rss = onHost(lab, 'cat /root/la/rss')
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/).map(Number) as [number, number, number]);
    const half = Math.floor(rss.length / 2);
    const peak = (i: 1 | 2, from: number, to: number) => Math.max(...rss.slice(from, to).map((r) => r[i]));
    const figures = {
      seconds: SECONDS,
      elapsed,
      rateAsked: RATE,
      rateAchieved: summary.rate,
      sent: summary.sent,
      ok: summary.ok,
      unexpected: summary.errors,
      noAnswer: summary.failed,
      sapis: summary.sapis,
      counted,
      dropped,
      linksBefore,
      linksAfter,
      fullestMaps: fill.sort((a, b) => b.entries / b.max - a.entries / a.max).slice(0, 4),
      rssKb: {
        labAttach: { first: rss[0]?.[1], peak: peak(1, 0, rss.length), last: rss.at(-1)?.[1] },
        prometheus: { first: rss[0]?.[2], peak: peak(2, 0, rss.length), last: rss.at(-1)?.[2] },
        samples: rss.length,
      },
    };
    console.log('load figures', JSON.stringify(figures, null, 2));
    if (process.env['EBPF_LAB_REPORT'])
      writeFileSync(process.env['EBPF_LAB_REPORT'] + '.load.json', JSON.stringify(figures, null, 2));

    expect(summary.sent).toBeGreaterThan(RATE * SECONDS * 0.8);
    // The generator keeps its pace: a long run does not stretch (it once drifted past its timeout).
    expect(elapsed, 'load took as long as asked, plus connection and the last batch').toBeLessThan(SECONDS * 1.1 + 30);
    expect(summary.errors + summary.failed).toBe(0);
    expect(linksAfter).toBe(linksBefore);
    expect(counted + dropped, 'every answered request is in the histogram or the dropped counter').toBe(answered);
    for (const f of fill)
      expect(f.entries < f.max || dropped > 0, `${f.map} full (${f.entries}/${f.max}) and nothing reported`).toBe(true);
    expect(rss.length).toBeGreaterThanOrEqual(3);
    expect(
      rss.every((r) => r[1] > 0 && r[2] > 0),
      'RSS sampled for both',
    ).toBe(true);
    // Bounded: the second half's peak is within 25% (+16 MB) of the first half's.
    for (const i of [1, 2] as const)
      expect(peak(i, half, rss.length)).toBeLessThanOrEqual(peak(i, 0, Math.max(half, 1)) * 1.25 + 16_384);
  });
});
