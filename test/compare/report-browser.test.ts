/**
 * The report in a real browser: Debian's chromium, driven by playwright-core (no browser
 * download), opens the page from a file with the network cut off in its flags, and checks that
 * every chart was drawn with the series and points the run's numbers say, that the page asked the
 * network for nothing and logged no error. The screenshot is kept in build/artifacts/.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compare } from '../../src/compare/compare.js';
import { renderReport } from '../../src/compare/report/render.js';
import type { Sequence } from '../../src/compare/sequence.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { linkSkipReason, outerNamespace } from '../helpers/netns.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../artifacts/', import.meta.url)); // build/artifacts/

interface DrawnChart {
  id: string;
  series: { label: string; points: number }[];
  painted: boolean;
}

type Chromium = (typeof import('playwright-core'))['chromium'];

/**
 * Open `file` in Debian's chromium with no network at all (the flags keep it from calling home),
 * and record what the page asks for and what it logs as errors; resolves once the page's charts
 * script has run.
 */
async function openOffline(
  t: { after: (fn: () => Promise<void>) => void },
  chromium: Chromium,
  profile: string,
  file: string,
) {
  const context = await chromium.launchPersistentContext(join(profile, 'chromium'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1200, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 30_000,
  });
  t.after(() => context.close());
  const page = await context.newPage();
  const requests: string[] = [];
  const errors: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (err) => errors.push(String(err)));
  const url = pathToFileURL(file).href;
  await page.goto(url, { timeout: 30_000 });
  await page.waitForFunction('"socklabCharts" in window', null, { timeout: 30_000 });
  return { page, requests, errors, url };
}

test(
  'the report opens offline in chromium with every chart drawn from the run',
  { timeout: 120_000 },
  async (t) => {
    if (!existsSync(CHROMIUM)) {
      t.skip(`chromium is not installed (${CHROMIUM}): apt-get install chromium`);
      return;
    }
    const { chromium } = await import('playwright-core');
    const result = await compare({
      via: 'relay',
      workload: { kind: 'paced', messages: 400, sizeBytes: 200, intervalMs: 2 },
      sweep: {
        fault: 'loss',
        points: ['0', '5%'].map((value) => ({
          value,
          faults: [
            { type: 'loss', params: { lossRate: value === '0' ? 0 : value } },
            { type: 'delay', params: { delayMs: '10ms', jitterMs: '4ms' } },
            { type: 'duplicate', params: { duplicateRate: '2%' } },
          ],
        })),
      },
      seed: 42,
      signal: AbortSignal.timeout(60_000),
    });
    const tcp = result.lanes.tcp!;
    const udp = result.lanes.udp!;
    assert.ok(udp.lost > 0 && tcp.late > 0, 'a run with something to see');
    // The page in a folder of its own; only the screenshot goes to build/artifacts/.
    const profile = mkdtempSync(join(tmpdir(), 'socklab-chromium-'));
    t.after(() => rmSync(profile, { recursive: true, force: true }));
    const file = join(profile, 'compare-report.html');
    writeFileSync(file, renderReport(result));

    const { page, requests, errors, url } = await openOffline(t, chromium, profile, file);
    // In the page (no DOM types here, so as text): each chart's series, and whether its canvas has paint.
    const charts = await page.evaluate<DrawnChart[]>(`window.socklabCharts.map((c) => {
    const canvas = document.getElementById('chart-' + c.id);
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < pixels.length; i += 4 * 97) if (pixels[i] > 0) painted += 1;
    return { ...c, painted: painted > 50 };
  })`);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'compare-report.png'), fullPage: true });

    assert.deepEqual(requests, [url], 'the page asked for nothing but itself');
    assert.deepEqual(errors, []);
    const byId = new Map<string, DrawnChart>(charts.map((c) => [c.id, c]));
    assert.deepEqual([...byId.keys()], ['latency', 'strip', 'order', 'histogram', 'sweep']);
    for (const chart of charts) assert.ok(chart.painted, `${chart.id} drew something`);
    const points = (id: string) => Object.fromEntries(byId.get(id)!.series.map((s) => [s.label, s.points]));
    // 400 messages: no downsampling, so one point per message delivered, one cross per message lost.
    const latency = points('latency');
    assert.equal(latency['TCP latency'], tcp.delivered);
    assert.equal(latency['UDP latency'], udp.delivered);
    assert.equal(latency['UDP lost'], udp.lost);
    assert.equal(latency['TCP late (held back)'], tcp.late);
    assert.equal(latency['TCP lost'], undefined);
    // The strip: one cell per message per lane, split by verdict.
    const strip = byId.get('strip')!.series;
    assert.equal(
      strip.reduce((sum, s) => sum + s.points, 0),
      2 * 400,
    );
    assert.equal(strip.find((s) => s.label === 'lost')?.points, udp.lost);
    assert.deepEqual(points('order'), { TCP: tcp.delivered, UDP: udp.delivered });
    assert.deepEqual(points('histogram'), { TCP: 40, UDP: 40 });
    const sweep = byId.get('sweep')!.series;
    assert.equal(sweep.length, 5);
    for (const s of sweep) assert.equal(s.points, 2, s.label);
  },
);

test(
  "via the link: the report draws the TCP lane's sequence diagram, a dropped segment and its retransmission",
  { timeout: 180_000 },
  async (t) => {
    if (!existsSync(CHROMIUM)) {
      t.skip(`chromium is not installed (${CHROMIUM}): apt-get install chromium`);
      return;
    }
    const skip = await linkSkipReason();
    if (skip) {
      t.skip(skip);
      return;
    }
    const { chromium } = await import('playwright-core');
    const profile = mkdtempSync(join(tmpdir(), 'socklab-chromium-'));
    t.after(() => rmSync(profile, { recursive: true, force: true }));
    const file = join(profile, 'compare-report-link.html');
    // compare via the link in a throwaway namespace; the page is written to the shared filesystem.
    const outer = await outerNamespace();
    t.after(() => outer.close());
    const script = `
      import { writeFileSync } from 'node:fs';
      import { compare, renderReport } from ${JSON.stringify(join(REPO_ROOT, 'dist/index.js'))};
      const r = await compare({
        via: 'link',
        workload: { kind: 'paced', messages: 400, sizeBytes: 200, intervalMs: 2 },
        faults: [{ type: 'loss', params: { lossRate: '4%' } }, { type: 'delay', params: { delayMs: '10ms' } }],
        seed: 11,
        signal: AbortSignal.timeout(60_000),
      });
      writeFileSync(${JSON.stringify(file)}, renderReport(r));
      console.log(JSON.stringify(r[Symbol.for('socklab.compare.detail')].sequence ?? null));
    `;
    const run = await outer.run(process.execPath, ['--input-type=module', '-e', script], {
      timeoutMs: 120_000,
    });
    assert.equal(run.code, 0, run.stderr);
    const sequence = JSON.parse(run.stdout) as Sequence | null;
    assert.ok(sequence, 'the link dropped a TCP data segment');

    const { page, requests, errors, url } = await openOffline(t, chromium, profile, file);
    // What the browser laid out: the arrows by kind, the X where the segment died, and their size.
    const drawn = await page.evaluate<{
      packets: number;
      dropped: number;
      resent: number;
      died: number;
      text: string;
      width: number;
      height: number;
      droppedIndex: string | null;
    }>(`(() => {
      const svg = document.querySelector('section.sequence svg#sequence');
      if (!svg) return null;
      const box = svg.getBoundingClientRect();
      return {
        packets: svg.querySelectorAll('g.packet').length,
        dropped: svg.querySelectorAll('g.packet.dropped').length,
        resent: svg.querySelectorAll('g.packet.resent').length,
        died: svg.querySelectorAll('.died').length,
        text: document.querySelector('section.sequence').textContent,
        width: box.width,
        height: box.height,
        droppedIndex: svg.querySelector('g.packet.dropped').getAttribute('data-index'),
      };
    })()`);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'compare-report-link.png'), fullPage: true });
    const section = await page.$('section.sequence');
    await section!.screenshot({ path: join(ARTIFACTS, 'compare-sequence.png') });

    assert.deepEqual(requests, [url], 'the page asked for nothing but itself');
    assert.deepEqual(errors, []);
    assert.ok(drawn, 'the sequence diagram is on the page');
    assert.equal(drawn.packets, sequence.packets.length, 'one arrow per packet');
    assert.equal(drawn.dropped, 1);
    assert.equal(drawn.droppedIndex, String(sequence.dropped.index));
    const lost = sequence.packets.filter((p) => p.arrivedMs === null).length;
    assert.equal(drawn.died, lost, 'an X for each packet the link dropped');
    const resent = sequence.packets.filter((p) => p.role === 'resent').length;
    assert.equal(drawn.resent, resent);
    assert.ok(sequence.retransmission && resent >= 1, sequence.caption);
    const caption = sequence.caption.charAt(0).toUpperCase() + sequence.caption.slice(1);
    assert.ok(drawn.text.includes(caption), 'the caption computed from the packets');
    assert.ok(drawn.width > 600 && drawn.height > 300, `laid out ${drawn.width}x${drawn.height}`);
  },
);
