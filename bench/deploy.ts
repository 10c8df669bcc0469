// Deploy benchmark: wall time of whole deploys (the bundled action, as GitHub runs it) alternating
// v1 and v2 of the test app, which becomes ready 1 s after start. Overhead = wall time minus that
// start-up second. Two loads: short requests only, and short plus /slow?ms=2000 requests (the drain
// then waits for them; drain-seconds is 10, a ceiling). Also: how long after the health check passed
// the proxy was switched, how long the drain took, and the failed requests through all the switches.
// Run: bash bench/deploy.sh
import { runAction } from '../test/helpers/action-runner';
import { failures, startLoad } from '../test/helpers/load';
import { resetServer, serverInputs, testServer } from '../test/helpers/server';

const APP_STARTUP_SECONDS = 1; // READY_AFTER of the test images
const ROUNDS = Number(process.env.ROUNDS ?? 6);
const DRAIN = 10;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function scenario(name: string, slowWorkers: number): Promise<void> {
  const server = testServer();
  resetServer(server);
  await runAction(serverInputs(server, { app: 'bench', image: `${server.appImage}:v2` }));
  const load = startLoad({ port: server.proxyPort, steadyWorkers: 4, slowWorkers, slowMs: 2000, maxSeconds: 300 });
  const rows: Array<{ wall: number; overhead: number; healthToSwitchMs: number; drainMs: number; phases: string }> = [];
  for (let i = 0; i < ROUNDS; i++) {
    const version = i % 2 === 0 ? 'v1' : 'v2';
    const started = Date.now();
    let healthyAt = 0;
    let switchedAt = 0;
    const run = await runAction(serverInputs(server, { app: 'bench', image: `${server.appImage}:${version}`, 'drain-seconds': String(DRAIN) }), {
      onLine: (line) => {
        if (line.includes('is healthy after')) healthyAt = Date.now();
        if (line.includes('the proxy serves')) switchedAt = Date.now();
      },
    });
    const wall = (Date.now() - started) / 1000;
    if (run.code !== 0) throw new Error(`deploy ${i} failed: ${run.stdout}`);
    const summaryPhases = run.summary.match(/\*\*Phases\*\* \| (.*) \|/)?.[1] ?? '';
    const drainMs = Number(run.stdout.match(/drained after (\d+)ms/)?.[1] ?? NaN);
    rows.push({ wall, overhead: wall - APP_STARTUP_SECONDS, healthToSwitchMs: switchedAt - healthyAt, drainMs, phases: summaryPhases });
  }
  const samples = await load.stop();
  console.log(`${name}: ${ROUNDS} deploys alternating v1/v2 (app ready after ${APP_STARTUP_SECONDS}s, drain-seconds ${DRAIN} as a ceiling, health-successes 2, interval 1s)`);
  rows.forEach((r, i) => console.log(`  deploy ${i + 1}: ${r.wall.toFixed(2)} s wall, overhead ${r.overhead.toFixed(2)} s, health passed -> proxy serving new slot ${r.healthToSwitchMs} ms, drain ${r.drainMs} ms | ${r.phases}`));
  console.log(`  median wall ${median(rows.map((r) => r.wall)).toFixed(2)} s, median overhead ${median(rows.map((r) => r.overhead)).toFixed(2)} s, median health->switch ${median(rows.map((r) => r.healthToSwitchMs))} ms, median drain ${median(rows.map((r) => r.drainMs))} ms`);
  const slow = samples.filter((s) => s.kind === 'slow').length;
  console.log(`  load during all deploys: ${samples.length} requests (${slow} of them /slow?ms=2000), ${failures(samples).length} failed`);
}

async function main(): Promise<void> {
  console.log('bluegreen-action deploy benchmark');
  await scenario('short requests only (4 clients)', 0);
  await scenario('short requests (4 clients) and 2 s requests in flight (2 clients)', 2);
}

main();
