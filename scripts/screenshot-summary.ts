// Renders real job summaries (a switch under load with its receipt, a failed health check, a canary
// reverted by its numbers, from runs of the bundled action
// against the test server) to HTML as GitHub does (GFM tables) and screenshots them with headless
// Chromium into docs/. Run: bash scripts/screenshot-summary.sh
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { marked } from 'marked';
import { runAction } from '../test/helpers/action-runner';
import { resetServer, serverInputs, testServer } from '../test/helpers/server';
import { startLoad } from '../test/helpers/load';

const CSS = `
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; font-size: 14px; line-height: 1.5;
       color: #1f2328; background: #fff; margin: 0; padding: 24px 32px; width: 860px; }
h2 { font-size: 1.5em; border-bottom: 1px solid #d1d9e0; padding-bottom: .3em; margin-top: 0; }
h3 { font-size: 1.25em; margin-top: 24px; }
table { border-collapse: collapse; margin: 12px 0; display: block; overflow: auto; }
th, td { border: 1px solid #d1d9e0; padding: 6px 13px; }
tr:nth-child(2n) { background: #f6f8fa; }
code, pre { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; background: #eff1f3; border-radius: 6px; }
code { padding: .2em .4em; } pre { padding: 16px; overflow: auto; } pre code { padding: 0; background: none; }
blockquote { margin: 0; padding: 0 1em; color: #59636e; border-left: .25em solid #d1d9e0; }
.frame { border: 1px solid #d1d9e0; border-radius: 6px; padding: 16px 24px; }
.title { color: #59636e; font-size: 12px; margin-bottom: 8px; }`;

function screenshot(markdown: string, title: string, file: string, height = 1000): void {
  const dir = mkdtempSync(join(tmpdir(), 'summary-shot-'));
  const html = `<!doctype html><html><head><meta charset="utf-8"><style>${CSS}</style></head><body>
<div class="title">${title}</div><div class="frame">${marked.parse(markdown, { gfm: true })}</div></body></html>`;
  writeFileSync(join(dir, 'index.html'), html);
  execFileSync(
    'chromium',
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--user-data-dir=${join(dir, 'profile')}`,
      '--hide-scrollbars',
      `--window-size=940,${height}`,
      `--screenshot=${file}`,
      `file://${join(dir, 'index.html')}`,
    ],
    { stdio: 'ignore' },
  );
  console.log(`wrote ${file}`);
}

async function main(): Promise<void> {
  const server = testServer();
  resetServer(server);
  const inputs = (image: string, extra: Record<string, string> = {}) => serverInputs(server, { app: 'shop', image: `${server.appImage}:${image}`, ...extra });
  await runAction(inputs('v1'));
  // Visitors while it switches, for the receipt: a few clients through the proxy, bounded.
  const underLoad = async (run: () => Promise<Awaited<ReturnType<typeof runAction>>>) => {
    const load = startLoad({ port: server.proxyPort, steadyWorkers: 3, slowWorkers: 1, slowMs: 1000, maxSeconds: 120 });
    try {
      return await run();
    } finally {
      await load.stop();
    }
  };
  const switched = await underLoad(() => runAction(inputs('v2', { 'drain-seconds': '5' })));
  const failed = await runAction(inputs('v3', { 'health-timeout': '12s' }));
  const canary = await underLoad(() => runAction(inputs('v1', { rollout: 'canary', 'canary-percent': '20', 'canary-seconds': '30s', 'health-path': '/health', env: 'FAIL_EVERY=2' })));
  screenshot(switched.summary, 'Deploy · Summary (v1 → v2, under load)', join(__dirname, '../docs/summary-switched.png'), 1500);
  screenshot(failed.summary, 'Deploy · Summary (v3 never becomes healthy)', join(__dirname, '../docs/summary-failed.png'));
  screenshot(canary.summary, 'Deploy · Summary (rollout: canary, a version failing every second request)', join(__dirname, '../docs/summary-canary-reverted.png'), 1450);
}

void main();
