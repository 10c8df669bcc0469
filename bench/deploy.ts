// Deploy benchmark, side by side in one run: the article's hand-written deploy (bench/naive-deploy.sh:
// start new, poll every 0.5 s, point nginx at it, reload, remove the old container at once) against
// this action (the bundle, as GitHub runs it): with its defaults, with health-successes 1, and like
// for like (health-successes 1, a try every 500ms). Each flow deploys v1 and v2 of the test app in
// turn (ready 1 s after start) under two loads: short requests only, and short plus /slow?ms=2000
// requests in flight. Overhead = wall time minus that start-up second.
// Also for the action: the drain's length (drain-seconds 10 is a ceiling) and failed requests.
// Run: bash bench/deploy.sh   (BENCH_SERVER=modern for the Docker 28 server with nginx 1.30; ROUNDS=N)
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runAction } from '../test/helpers/action-runner';
import { failures, startLoad } from '../test/helpers/load';
import { ServerKind, resetServer, serverInputs, testServer } from '../test/helpers/server';
import type { Traffic } from '../src/remote/result';

const APP_STARTUP_SECONDS = 1; // READY_AFTER of the test images
const ROUNDS = Number(process.env.ROUNDS ?? 6);
const DRAIN = 10;
const SLOW_MS = 2000;
const server = testServer((process.env.BENCH_SERVER ?? 'classic') as ServerKind);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Flow {
  name: string;
  /** Deploys the version; the drain's length and the time from healthy to switched in ms, when the flow reports them. */
  deploy: (version: string) => Promise<{ drain?: number; healthyToSwitched?: number }>;
}

const handWritten: Flow = {
  name: 'hand-written deploy.sh',
  // Asynchronous, so the load generator in this process keeps sending while it runs.
  deploy: (version) =>
    new Promise((resolve, reject) => {
      const child = execFile(
        'ssh',
        [
          '-i',
          server.key,
          '-p',
          String(server.sshPort),
          '-o',
          'BatchMode=yes',
          '-o',
          `UserKnownHostsFile=${server.knownHosts}`,
          `${server.user}@${server.host}`,
          'bash',
          '-s',
          '--',
          'bench',
          `${server.appImage}:${version}`,
          `/home/${server.user}/.bluegreen/nginx`,
        ],
        (error, _stdout, stderr) => (error ? reject(new Error(`hand-written deploy failed: ${stderr}`)) : resolve({})),
      );
      child.stdin!.end(readFileSync(join(__dirname, 'naive-deploy.sh'), 'utf8'));
    }),
};

const action = (name: string, extra: Record<string, string>): Flow => ({
  name,
  deploy: async (version) => {
    const run = await runAction(serverInputs(server, { app: 'bench', image: `${server.appImage}:${version}`, 'drain-seconds': String(DRAIN), ...extra }));
    if (run.code !== 0) throw new Error(`${name}: deploy of ${version} failed: ${run.stdout}`);
    const traffic = run.outputs.traffic ? (JSON.parse(run.outputs.traffic) as Traffic) : undefined;
    const healthyToSwitched = traffic?.healthyMs !== undefined && traffic.switchedMs !== undefined ? traffic.switchedMs - traffic.healthyMs : undefined;
    return { drain: Number(run.stdout.match(/drained after (\d+)ms/)?.[1] ?? NaN), healthyToSwitched };
  },
});

const FLOWS = [
  handWritten,
  action('bluegreen-action, defaults', {}),
  action('bluegreen-action, health-successes 1', { 'health-successes': '1' }),
  // Like for like with the hand-written flow: one healthy answer, polled every 0.5 s.
  action('bluegreen-action, health-successes 1, interval 500ms', { 'health-successes': '1', 'health-interval': '500ms' }),
];

async function measure(flow: Flow, slowWorkers: number): Promise<string> {
  resetServer(server);
  await action('first deploy', {}).deploy('v2');
  const load = startLoad({ port: server.proxyPort, steadyWorkers: 4, slowWorkers, slowMs: SLOW_MS, slowStaggerMs: SLOW_MS / Math.max(1, slowWorkers), maxSeconds: 300 });
  const walls: number[] = [];
  const drains: number[] = [];
  const switches: number[] = [];
  try {
    await new Promise((r) => setTimeout(r, 1000));
    for (let i = 0; i < ROUNDS; i++) {
      const started = Date.now();
      const { drain, healthyToSwitched } = await flow.deploy(i % 2 === 0 ? 'v1' : 'v2');
      walls.push((Date.now() - started) / 1000);
      if (drain !== undefined) drains.push(drain);
      if (healthyToSwitched !== undefined) switches.push(healthyToSwitched);
    }
  } finally {
    await load.stop();
  }
  const failed = failures(load.samples);
  const slowFailed = failed.filter((s) => s.kind === 'slow').length;
  const kinds = [...new Set(failed.map((s) => (s.status ? `HTTP ${s.status}` : s.error)))].join(', ');
  const wall = median(walls);
  return `| ${flow.name} | ${wall.toFixed(2)} s | ${(wall - APP_STARTUP_SECONDS).toFixed(2)} s | ${switches.length ? `${median(switches)} ms` : 'not reported'} | ${drains.length ? `${median(drains)} ms` : 'none (old removed at once)'} | ${load.samples.length} | ${failed.length}${slowFailed ? ` (${slowFailed} /slow)` : ''}${kinds ? `: ${kinds}` : ''} |`;
}

async function main(): Promise<void> {
  console.log(`bluegreen-action deploy benchmark, ${server.kind} server, ${ROUNDS} deploys per row alternating v1/v2 (app ready ${APP_STARTUP_SECONDS} s after start), medians`);
  for (const [title, slowWorkers] of [
    ['short requests only (4 clients)', 0],
    [`short requests (4 clients) and ${SLOW_MS / 1000} s requests in flight (2 clients)`, 2],
  ] as const) {
    console.log(`\n${title}:\n| flow | wall | overhead | healthy → switched | drain | requests | failed |\n| --- | --- | --- | --- | --- | --- | --- |`);
    for (const flow of FLOWS) console.log(await measure(flow, slowWorkers));
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
