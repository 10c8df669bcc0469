// Side by side under the same load: the article's hand-written deploy (bench/naive-deploy.sh: switch,
// then remove the old container at once) against this action (drain, then SIGTERM), each switching
// v1 -> v2 -> v1 -> v2 while clients send steady requests and /slow?ms=2000 requests.
// Run: bash bench/compare.sh
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runAction } from '../test/helpers/action-runner';
import { Sample, failures, startLoad } from '../test/helpers/load';
import { resetServer, serverInputs, testServer } from '../test/helpers/server';

const server = testServer();
const SWITCHES = ['v2', 'v1', 'v2'];

function naive(image: string): void {
  const script = readFileSync(join(__dirname, 'naive-deploy.sh'), 'utf8');
  execFileSync('ssh', ['-i', server.key, '-p', String(server.sshPort), '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${server.knownHosts}`,
    `${server.user}@${server.host}`, 'bash', '-s', '--', 'cmp', image, `/home/${server.user}/.bluegreen/nginx`], { input: script, stdio: ['pipe', 'ignore', 'inherit'] });
}

async function underLoad(name: string, switchTo: (version: string) => Promise<void>): Promise<Sample[]> {
  resetServer(server);
  const first = await runAction(serverInputs(server, { app: 'cmp', image: `${server.appImage}:v1` }));
  if (first.code !== 0) throw new Error(first.stdout);
  const load = startLoad({ port: server.proxyPort, steadyWorkers: 4, slowWorkers: 4, slowMs: 2000, maxSeconds: 240 });
  await new Promise((r) => setTimeout(r, 1500));
  for (const version of SWITCHES) {
    await switchTo(version);
    await new Promise((r) => setTimeout(r, 1500));
  }
  const samples = await load.stop();
  const failed = failures(samples);
  const slowFailed = failed.filter((s) => s.kind === 'slow').length;
  const kinds = [...new Set(failed.map((s) => (s.status ? `HTTP ${s.status}` : s.error)))].join(', ');
  const slow = samples.filter((s) => s.kind === 'slow').length;
  console.log(`  ${name}: ${samples.length} requests (${slow} /slow), ${failed.length} failed (${slowFailed} of them /slow)${kinds ? `: ${kinds}` : ''}`);
  return samples;
}

async function main(): Promise<void> {
  console.log(`${SWITCHES.length} switches under 4 steady + 4 /slow?ms=2000 clients:`);
  await underLoad('hand-written deploy.sh (article)', async (v) => naive(`${server.appImage}:${v}`));
  await underLoad('bluegreen-action            ', async (v) => {
    const run = await runAction(serverInputs(server, { app: 'cmp', image: `${server.appImage}:${v}`, 'drain-seconds': '3' }));
    if (run.code !== 0) throw new Error(run.stdout);
  });
}

main();
