import { checkDesired, applyDesired, type Desired } from '../src/resources/desired.js';
import { render } from '../src/render/template.js';
import { hostScript } from '../src/render/script.js';
import { quote, quoteArgv } from '../src/transports/quote.js';
import { DOCROOT, MEMCACHED_PORT, SAMPLE_FILES, SAMPLE_PAGES } from '../src/lab/layout.js';
import type { Evidence, Step } from '../src/runner/types.js';

/**
 * sample-app — the lab's PHP pages, written here, are in the document root:
 * index.php (names its SAPI), mem.php (memcached sets of many sizes), exception.php
 * (thrown, caught and uncaught exceptions), error.php (an Error), path1/a.php and
 * path2/a.php (compile counts by directory) and phpinfo.php. Other files in the
 * document root are left alone.
 */
function desired(): Desired {
  return {
    files: SAMPLE_FILES.map((f) => ({
      path: `${DOCROOT}/${f}`,
      content: render(`var/www/html/${f}`, { memcachedPort: MEMCACHED_PORT }),
    })),
  };
}

const step: Step = {
  id: 'sample-app',
  title: 'Sample PHP pages are served by both SAPIs',
  needs: ['php'],
  async check(ctx) {
    const { changes, notes } = await checkDesired(
      ctx,
      desired(),
      `${SAMPLE_FILES.length} pages in ${DOCROOT} up to date`,
    );
    return { changes, notes };
  },
  async apply(ctx, changes) {
    await applyDesired(ctx, desired(), changes);
  },
  async verify(ctx) {
    const urls = SAMPLE_PAGES.flatMap((p) => [`/${p.page}`, `/fpm/${p.page}`]);
    // One round trip: status code plus the markers each page prints, per URL.
    const markers =
      'sapi=[a-z0-9-]+|stored=[0-9]+ of [0-9]+|caught [A-Za-z]+|path[12]/a\\.php|DTrace Support|ebpf-lab sample app';
    const script = hostScript('sample-pages', { URLS: quoteArgv(urls), MARKERS: quote(markers) });
    const r = await ctx.host.exec({ script }, { nothrow: true, timeoutMs: 120_000 });
    const lines = r.stdout.split('\n');
    return urls.map((u, i): Evidence => {
      const p = SAMPLE_PAGES[Math.floor(i / 2)]!;
      const line = lines.find((l) => l.startsWith(u + '\t')) ?? '';
      const [, codeText = '0', seen = ''] = line.split('\t');
      const code = Number(codeText);
      const sapiOk = u.startsWith('/fpm/') ? !/sapi=apache2handler/.test(seen) : !/sapi=fpm-fcgi/.test(seen);
      return {
        ok: code === p.status && p.expect.test(seen) && sapiOk,
        what: `GET ${u} -> ${p.status}`,
        detail: `http ${code} ${seen.trim()}`.trim(),
      };
    });
  },
};
export default step;
